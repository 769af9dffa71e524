"""The OpenAPI 3.1 description of every REST endpoint, served at GET /openapi.json.

Schemas are JSON Schema 2020-12 (OpenAPI 3.1 dialect); error bodies are
``{"error": "...", ...context}``. Keep this in step with the handlers: the tests validate
real responses of a running server against these schemas.
"""
from __future__ import annotations

import copy

import mitraseti

STR, INT, NUM, BOOL = ({"type": "string"}, {"type": "integer"}, {"type": "number"},
                       {"type": "boolean"})
DOWNLOAD_FORMATS = ["json", "csv", "catalog_json", "classified", "fits", "waterfall",
                    "waterfall_thumb", "notebook", "dat", "events", "events_png"]
FILE_KEYS = {"type": "array", "minItems": 4, "maxItems": 20, "uniqueItems": True,
             "items": {"type": "string", "minLength": 1},
             "description": "Cadence job: the file keys of every file of an ON/OFF cadence "
                            "in observing order, ON first (ABACAD, ABAB, ...: an even "
                            "number); file_key must equal the first. One job for the "
                            "concurrency limit; each file counts against the monthly quota "
                            "and is checked against the tier's size limit."}
FILTER_LEVEL = {"type": "integer", "minimum": 1, "maximum": 3, "default": 3,
                "description": "Cadence job only: turboSETI find_event level (1: S/N and "
                               "drift cuts, 2: absent from every OFF, 3: also in every ON)"}
NUM_OR_NULL = {"type": ["number", "null"]}


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
    "UploadUrlRequest": obj(["filename"], filename={"type": "string",
                                                    "pattern": r"(?i)\.(fil|h5)$"},
                            file_size={"type": "integer", "minimum": 0}),
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
                                                             "minimum": 1}, etag=STR),
    "CompleteUploadRequest": obj(["file_key", "upload_id", "parts"], file_key=STR,
                                 upload_id=STR, parts={"type": "array", "minItems": 1,
                                                       "items": ref("CompletedPart")}),
    "CompleteUploadResponse": obj(["message", "file_key"], message=STR, file_key=STR),
    "AbortUploadRequest": obj(["file_key", "upload_id"], file_key=STR, upload_id=STR),
    "AnalyzeRequest": obj(["file_key"], file_key=STR, filename=STR, source_name=STR,
                          max_drift=NUM, min_drift=NUM, snr=NUM, n_coarse_chan=INT,
                          webhook_url={"type": "string", "format": "uri"},
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
                                               "failed"]},
                           "source_name": STR, "filename": STR, "file_size": INT,
                           "created_at": INT, "started_at": {"type": ["integer", "null"]},
                           "completed_at": INT, "results": ref("JobResults"),
                           "progress": {"type": "object"}, "error": STR,
                           "exports_ready": BOOL,
                           "cadence": {"type": "array", "items": STR},
                           "filter_level": {"enum": [1, 2, 3]}}},
    "JobList": {"type": "array", "items": ref("Job")},
    "Download": obj(["download_url", "format", "filename"],
                    download_url={"type": "string", "format": "uri"},
                    format={"enum": DOWNLOAD_FORMATS}, filename=STR),
    "TierDetails": obj(["files_per_month", "max_file_mb", "price", "retention_days"],
                       files_per_month=INT, max_file_mb=INT, price=STR, retention_days=INT),
    "Usage": obj(["user_id", "tier", "usage_this_month", "limit", "remaining",
                  "tier_details"], user_id=STR,
                 tier={"enum": ["free", "researcher", "institution", "enterprise"]},
                 usage_this_month={"type": "integer", "minimum": 0}, limit=INT,
                 remaining={"type": "integer", "minimum": 0}, tier_details=ref("TierDetails")),
    "ApiKeyCreateRequest": obj([], name={"type": "string", "minLength": 1, "maxLength": 100},
                               ttl_days={"type": "integer", "minimum": 1, "maximum": 365}),
    "ApiKeyCreated": obj(["key_id", "api_key", "expires_at", "ttl_days", "warning"],
                         key_id=STR, api_key={"type": "string", "pattern": "^sk_live_"},
                         expires_at=INT, ttl_days=INT, warning=STR),
    "ApiKeyInfo": obj(["key_id", "name", "created_at", "expires_at", "active", "expired"],
                      key_id=STR, name=STR, created_at=INT, expires_at=INT, active=BOOL,
                      expired=BOOL),
    "ApiKeyList": obj(["keys"], keys={"type": "array", "items": ref("ApiKeyInfo")}),
    "ApiKeyRevoked": obj(["message", "key_id"], message=STR, key_id=STR),
    "ReportRequest": obj(["job_id"], job_id=STR,
                         error_type={"enum": ["pipeline_failure", "user_report"]},
                         description=STR, metadata={"type": "object"}),
    "ReportCreated": obj(["report_id", "message"], report_id={"type": "string",
                                                              "pattern": "^rpt-"},
                         message=STR),
}

ERRORS = {400: "Bad request: missing required fields or invalid input",
          403: "Forbidden: missing, invalid or expired credentials, or another user's"
               " resource",
          404: "Not found", 413: "Payload too large: file exceeds the tier size limit",
          429: "Too many requests: monthly quota or concurrent job limit",
          500: "Server error: pipeline or infrastructure failure"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, ok: tuple[int, str, dict], errors: tuple[int, ...] = (),
        body: str | None = None, params: list | None = None, open_: bool = False) -> dict:
    responses = {str(ok[0]): _json(ok[2], ok[1])}
    for code in ((403,) if not open_ else ()) + tuple(errors):
        schema = ref("QuotaError") if code == 429 else ref("Error")
        responses[str(code)] = _json(schema, ERRORS[code])
    op = {"summary": summary, "responses": responses}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": ref(body)}}}
    if params:
        op["parameters"] = params
    if open_:
        op["security"] = []
    return op


def _path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": STR}


PATHS = {
    "/health": {"get": _op("Health check (no authentication)",
                           (200, "Service is up", ref("Health")), open_=True)},
    "/openapi.json": {"get": _op("This document (no authentication)",
                                 (200, "OpenAPI 3.1 document", {"type": "object"}),
                                 open_=True)},
    "/upload-url": {"post": _op(
        "Signed upload URL (one PUT, or one per 10 MB part when file_size > 50 MB)",
        (200, "Upload URL(s)", {"oneOf": [ref("UploadSingle"), ref("UploadMultipart")]}),
        (400, 413), body="UploadUrlRequest")},
    "/complete-upload": {"post": _op(
        "Finish a multipart upload (S3 semantics: InvalidPart, InvalidPartOrder,"
        " EntityTooSmall, NoSuchUpload)",
        (200, "Object assembled", ref("CompleteUploadResponse")), (400, 404),
        body="CompleteUploadRequest")},
    "/abort-upload": {"post": _op("Abort an incomplete upload and remove its parts",
                                  (200, "Upload aborted", ref("Message")), (400, 404),
                                  body="AbortUploadRequest")},
    "/analyze": {"post": _op("Start the pipeline on an uploaded file, or on a whole ON/OFF"
                             " cadence (cadence, filter_level)",
                             (202, "Job accepted", ref("AnalyzeResponse")),
                             (400, 404, 413, 429, 500), body="AnalyzeRequest")},
    "/jobs": {"get": _op("The caller's jobs, most recent first",
                         (200, "Jobs", ref("JobList")), (400,),
                         params=[{"name": "limit", "in": "query", "required": False,
                                  "schema": {"type": "integer", "minimum": 1,
                                             "maximum": 100, "default": 50}}])},
    "/jobs/{job_id}": {"get": _op("Job status, with results when complete",
                                  (200, "Job", ref("Job")), (404,),
                                  params=[_path_param("job_id")])},
    "/jobs/{job_id}/download": {"get": _op(
        "Signed download URL of one export (inline text/csv for format=csv and, for a"
        " cadence job, format=events; events_png is a zip of one PNG per event)",
        (200, "Download URL", ref("Download")), (400, 404),
        params=[_path_param("job_id"),
                {"name": "format", "in": "query", "required": False,
                 "schema": {"enum": DOWNLOAD_FORMATS, "default": "json"}}])},
    "/usage": {"get": _op("Usage this month and tier quotas",
                          (200, "Usage", ref("Usage")))},
    "/api-keys": {
        "post": _op("Create an API key (Researcher tier and above); shown once",
                    (201, "Key created", ref("ApiKeyCreated")), (400,),
                    body="ApiKeyCreateRequest"),
        "get": _op("The caller's API keys (metadata only)",
                   (200, "Keys", ref("ApiKeyList")))},
    "/api-keys/{keyId}": {"delete": _op("Revoke an API key",
                                        (200, "Key revoked", ref("ApiKeyRevoked")), (404,),
                                        params=[_path_param("keyId")])},
    "/reports": {"post": _op("Report a problem with a job",
                             (201, "Report stored", ref("ReportCreated")), (400, 404),
                             body="ReportRequest")},
}
PATHS["/api-keys"]["post"]["requestBody"]["required"] = False
PATHS["/jobs/{job_id}/download"]["get"]["responses"]["200"]["content"]["text/csv"] = {
    "schema": {"type": "string"}}


def build_openapi(server_url: str = "") -> dict:
    """The OpenAPI 3.1 document; ``server_url`` is the API's base URL (with prefix)."""
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "MitraSETI REST API", "version": mitraseti.__version__,
                 "description": "Upload filterbank observations (.fil, .h5), run the "
                                "de-Doppler search and classifier, download results."},
        "paths": copy.deepcopy(PATHS),
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {
                "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "x-api-key",
                               "description": "sk_live_... key from POST /api-keys"},
                "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "Local or OIDC/Cognito id_token"},
            },
        },
        "security": [{"ApiKeyAuth": []}, {"BearerAuth": []}],
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
