"""JSON Schemas (2020-12, the OpenAPI 3.1 dialect) of every request and response body.

The one description of the API's bodies: ``api.openapi`` puts them under
``components/schemas`` of /openapi.json, and ``api.validation`` checks every request body
against them before a handler reads it. Request schemas bound every number and every free
text (``maxLength``), so no value reaches a job's command line or the search unbounded.
"""
from __future__ import annotations

from mitraseti.export.formats import DOWNLOAD_FORMATS

STR, INT, NUM, BOOL = ({"type": "string"}, {"type": "integer"}, {"type": "number"},
                       {"type": "boolean"})
NUM_OR_NULL = {"type": ["number", "null"]}
MAX_KEY = 1024                 # characters of a file key (S3's limit is 1024 bytes)
MAX_FILENAME = 255             # characters (the service also checks 255 UTF-8 bytes)
MAX_SOURCE_NAME = 256
MAX_URL = 2048
MAX_DESCRIPTION = 10_000
MAX_FILE_SIZE = 2 ** 50        # bytes; tiers set the real limit
MAX_DRIFT_HZ_S = 1000.0        # beyond any Doppler drift an observation can show
MAX_SNR = 1e6
MAX_COARSE_CHANNELS = 1 << 20


def text(max_length: int) -> dict:
    """A non-empty string of at most ``max_length`` characters."""
    return {"type": "string", "minLength": 1, "maxLength": max_length}


FILE_KEY = text(MAX_KEY)
FILENAME = {**text(MAX_FILENAME), "pattern": r"(?i)\.(fil|h5)$",
            "x-error": "Unsupported file type: filename must end in .fil or .h5"}
FILE_KEYS = {"type": "array", "minItems": 4, "maxItems": 20, "uniqueItems": True,
             "items": FILE_KEY,
             "description": "Cadence job: the file keys of every file of an ON/OFF cadence "
                            "in observing order, ON first (ABACAD, ABAB, ...: an even "
                            "number); file_key must equal the first. One job for the "
                            "concurrency limit; each file counts against the monthly quota "
                            "and is checked against the tier's size limit."}
FILTER_LEVEL = {"type": "integer", "minimum": 1, "maximum": 3, "default": 3,
                "description": "Cadence job only: turboSETI find_event level (1: S/N and "
                               "drift cuts, 2: absent from every OFF, 3: also in every ON)"}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str], extra: bool = False, **props) -> dict:
    out = {"type": "object", "properties": props, "additionalProperties": extra}
    if required:
        out["required"] = required
    return out


SCHEMAS = {
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": STR}, "additionalProperties": True},
    "QuotaError": {"type": "object", "required": ["error", "limit", "tier", "retry_after"],
                   "properties": {"error": STR, "limit": INT, "used": INT, "running": INT,
                                  "tier": STR, "retry_after": INT},
                   "additionalProperties": True},
    "Health": obj(["status", "version"], status={"const": "healthy"}, version=STR),
    "Message": obj(["message"], message=STR),
    "UploadUrlRequest": obj(["filename"], filename=FILENAME,
                            file_size={"type": "integer", "minimum": 0,
                                       "maximum": MAX_FILE_SIZE}),
    "UploadSingle": obj(["upload_url", "file_key", "expires_in", "max_size_mb",
                         "multipart"], upload_url={"type": "string", "format": "uri"},
                        file_key=STR, expires_in=INT, max_size_mb=INT,
                        multipart={"const": False}),
    "UploadPart": obj(["partNumber", "url"], partNumber={"type": "integer", "minimum": 1},
                      url={"type": "string", "format": "uri"}),
    "UploadMultipart": obj(["multipart", "upload_id", "file_key", "parts", "part_size",
                            "max_size_mb", "expires_in"], multipart={"const": True},
                           upload_id=STR, file_key=STR,
                           parts={"type": "array", "items": ref("UploadPart")},
                           part_size=INT, max_size_mb=INT, expires_in=INT),
    "CompletedPart": obj(["partNumber", "etag"], partNumber={"type": "integer",
                                                             "minimum": 1, "maximum": 10000},
                         etag=text(128)),
    "CompleteUploadRequest": obj(["file_key", "upload_id", "parts"], file_key=FILE_KEY,
                                 upload_id=text(128),
                                 parts={"type": "array", "minItems": 1, "maxItems": 10000,
                                        "items": ref("CompletedPart")}),
    "CompleteUploadResponse": obj(["message", "file_key"], message=STR, file_key=STR),
    "AbortUploadRequest": obj(["file_key", "upload_id"], file_key=FILE_KEY,
                              upload_id=text(128)),
    "AnalyzeRequest": obj(["file_key"], file_key=FILE_KEY, filename=text(MAX_FILENAME),
                          source_name=text(MAX_SOURCE_NAME),
                          max_drift={"type": "number", "exclusiveMinimum": 0,
                                     "maximum": MAX_DRIFT_HZ_S,
                                     "description": "largest |drift| searched, Hz/s"},
                          min_drift={"type": "number", "minimum": 0,
                                     "maximum": MAX_DRIFT_HZ_S,
                                     "description": "smallest |drift| kept, Hz/s"},
                          snr={"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SNR,
                               "description": "detection threshold (S/N)"},
                          n_coarse_chan={"type": "integer", "minimum": 1,
                                         "maximum": MAX_COARSE_CHANNELS},
                          webhook_url={"type": "string", "format": "uri", "minLength": 1,
                                       "maxLength": MAX_URL, "pattern": "^https?://[^/]",
                                       "x-error": "webhook_url must be an absolute http:// "
                                                  "or https:// URL"},
                          cadence=FILE_KEYS, filter_level=FILTER_LEVEL),
    "AnalyzeResponse": obj(["job_id", "status", "message", "status_url"], job_id=STR,
                           status={"const": "submitted"}, message=STR, status_url=STR),
    "Candidate": {"type": "object", "additionalProperties": True,
                  "properties": {"frequency_hz": NUM, "drift_rate": NUM, "snr": NUM,
                                 "classification": STR, "interestingness": NUM,
                                 "rfi_source": STR, "source": STR}},
    "EventOnHit": {"oneOf": [{"type": "null"}, obj(
        ["file", "frequency_hz", "drift_rate", "snr", "classification"], file=STR,
        frequency_hz=NUM, drift_rate=NUM, snr=NUM_OR_NULL, classification=STR)]},
    "Event": {"type": "object", "additionalProperties": True,
              "required": ["event_id", "frequency_hz", "drift_rate", "snr", "classification",
                           "filter_level", "on_hits"],
              "properties": {"event_id": INT, "frequency_hz": NUM, "drift_rate": NUM,
                             "snr": NUM_OR_NULL, "classification": STR,
                             "interestingness": NUM_OR_NULL, "rfi_source": STR,
                             "filter_level": {"enum": [1, 2, 3]}, "seen_in_off": BOOL,
                             "file": STR, "png": STR,
                             "on_hits": {"type": "array", "items": ref("EventOnHit"),
                                         "description": "one entry per ON file, in order"}}},
    "JobResults": {"type": "object", "additionalProperties": True,
                   "properties": {"raw_hits": INT, "filtered_hits": INT, "candidates": INT,
                                  "processing_time_seconds": NUM,
                                  "top_candidates": {"type": "array",
                                                     "items": ref("Candidate")},
                                  "events": INT, "filter_level": {"enum": [1, 2, 3]},
                                  "top_events": {"type": "array", "items": ref("Event")}}},
    "Job": {"type": "object", "required": ["job_id", "status", "source_name", "created_at"],
            "additionalProperties": True,
            "properties": {"job_id": STR,
                           "status": {"enum": ["submitted", "processing", "complete",
                                               "failed", "cancelled"]},
                           "source_name": STR, "filename": STR, "file_size": INT,
                           "created_at": INT, "started_at": {"type": ["integer", "null"]},
                           "completed_at": INT, "results": ref("JobResults"),
                           "progress": {"type": "object"}, "error": STR,
                           "exports_ready": BOOL, "cancelled_at": INT,
                           "retries": {"type": "integer", "minimum": 1,
                                       "description": "times the job was retried"},
                           "cadence": {"type": "array", "items": STR},
                           "filter_level": {"enum": [1, 2, 3]},
                           "webhook": ref("JobWebhook")}},
    "JobWebhook": obj(["url_host", "deliveries"], url_host={
        "type": "string", "description": "host[:port] of webhook_url (its path and query "
                                         "are not shown)"},
        deliveries={"type": "array", "items": ref("WebhookDelivery"),
                    "description": "GET /jobs/{job_id} only: one per status change, in "
                                   "sending order"}),
    "WebhookDelivery": obj(
        ["delivery_id", "event", "state", "attempts", "last_code", "last_error",
         "created_at", "next_attempt_at", "delivered_at"],
        delivery_id={"type": "string", "description": "the X-MitraSETI-Delivery header"},
        event={"type": "string", "pattern": "^job\\."},
        state={"enum": ["pending", "sending", "delivered", "failed"]},
        attempts={"type": "integer", "minimum": 0},
        last_code={"type": ["integer", "null"], "description": "HTTP status of the last try"},
        last_error={"type": ["string", "null"]}, created_at=INT,
        next_attempt_at={"type": ["integer", "null"], "description": "while pending"},
        delivered_at={"type": ["integer", "null"]}),
    "JobList": {"type": "array", "items": ref("Job")},
    "Download": obj(["download_url", "format", "filename"],
                    download_url={"type": "string", "format": "uri"},
                    format={"enum": list(DOWNLOAD_FORMATS)}, filename=STR),
    "TierDetails": obj(["files_per_month", "max_file_mb", "price", "retention_days"],
                       files_per_month=INT, max_file_mb=INT, price=STR, retention_days=INT),
    "Usage": obj(["user_id", "tier", "usage_this_month", "limit", "remaining",
                  "tier_details"], user_id=STR,
                 tier={"enum": ["free", "researcher", "institution", "enterprise"]},
                 usage_this_month={"type": "integer", "minimum": 0}, limit=INT,
                 remaining={"type": "integer", "minimum": 0}, tier_details=ref("TierDetails")),
    "ApiKeyCreateRequest": obj([], name=text(100),
                               ttl_days={"type": "integer", "minimum": 1, "maximum": 365}),
    "ApiKeyCreated": obj(["key_id", "api_key", "expires_at", "ttl_days", "warning"],
                         key_id=STR, api_key={"type": "string", "pattern": "^sk_live_"},
                         expires_at=INT, ttl_days=INT, warning=STR),
    "ApiKeyInfo": obj(["key_id", "name", "created_at", "expires_at", "active", "expired"],
                      key_id=STR, name=STR, created_at=INT, expires_at=INT, active=BOOL,
                      expired=BOOL),
    "ApiKeyList": obj(["keys"], keys={"type": "array", "items": ref("ApiKeyInfo")}),
    "ApiKeyRevoked": obj(["message", "key_id"], message=STR, key_id=STR),
    "ReportRequest": obj(["job_id"], job_id=text(64),
                         error_type={"enum": ["pipeline_failure", "user_report"]},
                         description={"type": "string", "maxLength": MAX_DESCRIPTION},
                         metadata={"type": "object",
                                   "description": "at most 64 KiB as JSON"}),
    "ReportCreated": obj(["report_id", "message"], report_id={"type": "string",
                                                              "pattern": "^rpt-"},
                         message=STR),
}
