"""The OpenAPI 3.1 description of every REST endpoint, served at GET /openapi.json.

Bodies are the schemas of ``api.schemas`` (the same ones requests are validated against);
error bodies are ``{"error": "...", ...context}``. The tests validate real responses of a
running server against this document.
"""
from __future__ import annotations

import copy

import mitraseti
from mitraseti.export.formats import DOWNLOAD_FORMATS
from mitraseti_server.api.schemas import SCHEMAS, STR, ref


ERRORS = {400: "Bad request: missing required fields or invalid input",
          403: "Forbidden: missing, invalid or expired credentials, or another user's"
               " resource",
          404: "Not found",
          409: "Conflict: the job's status does not allow it (already finished, or not"
               " failed or cancelled)",
          413: "Payload too large: a file over the tier's size limit, or a request body over"
               " 16 MiB",
          429: "Too many requests: monthly quota or concurrent job limit",
          500: "Server error: pipeline or infrastructure failure"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, ok: tuple[int, str, dict], errors: tuple[int, ...] = (),
        body: str | None = None, params: list | None = None, open_: bool = False) -> dict:
    responses = {str(ok[0]): _json(ok[2], ok[1])}
    codes = ((403,) if not open_ else ()) + tuple(errors)
    if body and 413 not in codes:
        codes += (413,)                     # any request body over 16 MiB
    for code in codes:
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
    "/jobs": {"get": _op("The caller's jobs, most recent first, one page at a time (the"
                         " next page's cursor is in X-Next-Cursor and Link rel=next)",
                         (200, "Jobs", ref("JobList")), (400,),
                         params=[{"name": "limit", "in": "query", "required": False,
                                  "schema": {"type": "integer", "minimum": 1,
                                             "maximum": 100, "default": 50}},
                                 {"name": "cursor", "in": "query", "required": False,
                                  "description": "X-Next-Cursor of the previous page",
                                  "schema": STR}])},
    "/jobs/{job_id}": {
        "get": _op("Job status, with results when complete", (200, "Job", ref("Job")),
                   (404,), params=[_path_param("job_id")]),
        "delete": _op("Cancel a queued or running job (as POST /jobs/{job_id}/cancel)",
                      (200, "Job cancelled", ref("Job")), (404, 409),
                      params=[_path_param("job_id")])},
    "/jobs/{job_id}/cancel": {"post": _op(
        "Cancel a queued or running job: the kernel stops, the concurrency slot is freed,"
        " the partial report is kept (format=notebook)",
        (200, "Job cancelled", ref("Job")), (404, 409), params=[_path_param("job_id")])},
    "/jobs/{job_id}/retry": {"post": _op(
        "Queue a failed or cancelled job again under the same id (the monthly quota is"
        " not charged again)",
        (202, "Job accepted", ref("AnalyzeResponse")), (404, 409, 429),
        params=[_path_param("job_id")])},
    "/jobs/{job_id}/download": {"get": _op(
        "Signed download URL of one export (inline text/csv for format=csv and, for a"
        " cadence job, format=events; events_png is a zip of one PNG per event)",
        (200, "Download URL", ref("Download")), (400, 404),
        params=[_path_param("job_id"),
                {"name": "format", "in": "query", "required": False,
                 "schema": {"enum": list(DOWNLOAD_FORMATS), "default": "json"}}])},
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
PATHS["/jobs"]["get"]["responses"]["200"]["headers"] = {
    "X-Next-Cursor": {"description": "cursor of the next page; absent on the last page",
                      "schema": STR},
    "Link": {"description": '<URL of the next page>; rel="next"; absent on the last page',
             "schema": STR}}


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
