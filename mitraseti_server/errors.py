"""The service's errors: subclasses of ``mitraseti.errors.MitraSETIError`` with fields.

Layers below the API raise these (or ``mitraseti.errors.ParameterError`` for a bad request
parameter); ``api.base`` answers each by its type (``http_status``) with the JSON body
``{"error": message, **fields}``. Nothing here knows about Tornado.

==========================  ======  ====================================================
type                        status  raised when
==========================  ======  ====================================================
InputError, ParameterError  400     the request's body or parameters are wrong
AuthError                   403     credentials are missing, invalid, expired, revoked
Forbidden                   403     the resource is another user's, or the tier lacks it
NotFound                    404     no such job, file, key or route
Conflict                    409     the job's status does not allow it (cancel, retry)
PayloadTooLarge             413     a file or body exceeds the tier's or server's limit
QuotaExceeded               429     monthly quota or concurrent-job limit
BlobError                   varies  S3-style storage errors (``code`` names them)
ServiceError                500     anything else the service reports on purpose
==========================  ======  ====================================================
"""
from __future__ import annotations

from typing import Any

from mitraseti.errors import InputError, MitraSETIError, ParameterError

__all__ = ["AuthError", "BlobError", "ConfigError", "Conflict", "Forbidden", "InputError",
           "JobCancelled", "JobFailed", "NotFound", "ParameterError", "PayloadTooLarge", "QuotaExceeded", "ServiceError",
           "StoreError", "http_status", "error_body"]


class ServiceError(MitraSETIError):
    """An error of the REST service; ``fields`` become the JSON error body's context."""


class ConfigError(InputError):
    """A configuration value is unknown, missing or of the wrong type; the message names
    the key and where it came from (file, environment variable, Jupyter config)."""


class StoreError(InputError):
    """A database operation the caller can fix (duplicate user name, unknown user)."""


class AuthError(ServiceError):
    """Authentication failed (missing, malformed, unknown, revoked or expired)."""


class Forbidden(ServiceError):
    """Authenticated, but the resource is another user's or the tier does not allow it."""


class NotFound(ServiceError):
    """The job, file, key or route does not exist (for this user)."""


class Conflict(ServiceError):
    """The job's status does not allow the request (cancel a finished job, retry one that
    did not fail); ``job_id`` and ``status`` are fields."""


class PayloadTooLarge(ServiceError):
    """A file or request body exceeds a size limit."""


class QuotaExceeded(ServiceError):
    """Monthly quota or concurrent-job limit; ``retry_after`` (s) is a field."""


class JobFailed(ServiceError):
    """A job's pipeline failed; the message is the job's one-line error."""


class JobCancelled(ServiceError):
    """The job was cancelled (its row says ``cancelled``) while an executor ran it."""


# S3 error code -> HTTP status (the codes S3 and the local blob store answer with)
BLOB_STATUS = {"InvalidPart": 400, "InvalidPartOrder": 400, "EntityTooSmall": 400,
               "InvalidKey": 400, "InvalidArgument": 400, "AccessDenied": 403,
               "SignatureDoesNotMatch": 403, "NoSuchUpload": 404, "NoSuchKey": 404,
               "EntityTooLarge": 413}


class BlobError(ServiceError):
    """A storage request the client got wrong, named by its S3 error ``code``; the body is
    ``{"error": code, "message": text, **fields}``."""

    def __init__(self, code: str, message: str = "", **fields: Any):
        super().__init__(message or code, **fields)
        self.code = code

    @property
    def status(self) -> int:
        return BLOB_STATUS.get(self.code, 500)


STATUS_BY_TYPE: tuple[tuple[type, int], ...] = (
    (InputError, 400), (AuthError, 403), (Forbidden, 403), (NotFound, 404),
    (Conflict, 409), (PayloadTooLarge, 413), (QuotaExceeded, 429))


def http_status(exc: MitraSETIError) -> int:
    """The HTTP status that answers ``exc`` (by type; 500 for anything unlisted)."""
    if isinstance(exc, BlobError):
        return exc.status
    for cls, status in STATUS_BY_TYPE:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(exc: MitraSETIError) -> dict[str, Any]:
    """The JSON error body: ``{"error": message, **fields}``; a ParameterError names its
    ``parameter`` (and what was ``expected``), never echoes the value given."""
    if isinstance(exc, BlobError):
        body = {"error": exc.code}
        if exc.message != exc.code:
            body["message"] = exc.message
        return {**body, **exc.fields}
    if isinstance(exc, ParameterError):
        fields = {"parameter": exc.parameter, "expected": exc.expected}
        return {"error": exc.message, **{k: v for k, v in fields.items() if v is not None}}
    return {"error": exc.message, **exc.fields}
