"""What every REST handler shares: services, authentication, JSON in and out, JSON errors.

Handlers subclass ``BaseHandler``; requests are authenticated in ``prepare()`` unless the
class sets ``auth_required = False``. Raise ``ApiError(status, error, **context)`` anywhere
to answer ``{"error": error, **context}``; any other exception becomes a 500 JSON body,
never an HTML traceback.
"""
from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

import tornado.web

from .auth import AuthError, JwksCache, authenticate_request
from .blobs import BlobError, BlobStore
from .config import Config
from .store import Store, User

log = logging.getLogger("mitraseti_server")


@dataclass
class Services:
    """The long-lived parts of the service, shared by all handlers."""

    config: Config
    store: Store
    blobs: BlobStore
    executor: Any = None        # mitraseti_server.executor.LocalExecutor (jobs room)
    job_store: Any = None       # mitraseti_server.job_store.JobStore (jobs room)
    jwks: JwksCache | None = None
    sweeper: Any = None


class ApiError(Exception):
    """Answer ``status`` with ``{"error": error, **context}``."""

    def __init__(self, status: int, error: str, **context: Any):
        super().__init__(error)
        self.status, self.error, self.context = status, error, context


def authenticated(method):
    """Decorator: 403 unless ``prepare()`` found a user (for handlers that turn
    ``auth_required`` off but still protect some methods)."""
    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        if self.user is None:
            self.user = await self.authenticate()
        result = method(self, *args, **kwargs)
        if hasattr(result, "__await__"):
            result = await result
        return result
    return wrapper


class BaseHandler(tornado.web.RequestHandler):
    """JSON handler with ``self.services`` and ``self.user``."""

    auth_required = True

    def initialize(self, services: Services) -> None:
        self.services = services
        self.user: User | None = None

    @property
    def config(self) -> Config:
        return self.services.config

    @property
    def store(self) -> Store:
        return self.services.store

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        if self.auth_required:
            self.user = await self.authenticate()

    async def authenticate(self) -> User:
        """The request's user; ApiError 403 otherwise. Override to plug other identity
        (the Jupyter extension maps its own logged-in user here)."""
        try:
            return await authenticate_request(self.services, self.request.headers)
        except AuthError as exc:
            raise ApiError(403, exc.message, **exc.context) from None

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated JSON API: no cookies, so no XSRF check."""

    # ---- JSON in/out ------------------------------------------------------------------
    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object ({} when empty); 400 otherwise."""
        body = self.request.body
        if not body or not body.strip():
            return {}
        try:
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Invalid JSON body") from None
        if not isinstance(value, dict):
            raise ApiError(400, "Invalid JSON body", detail="expected a JSON object")
        return value

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(obj))

    def send_error_json(self, status: int, error: str, **context: Any) -> None:
        body = {"error": error}
        body.update(context)
        if status == 429 and "retry_after" in body:
            self.set_header("Retry-After", str(body["retry_after"]))
        self.clear_header("Content-Disposition")
        self.write_json(body, status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            self.send_error_json(exc.status, exc.error, **exc.context)
        elif isinstance(exc, BlobError):
            self.send_error_json(exc.status, exc.code, **({"message": exc.message}
                                                         if exc.message else {}),
                                 **exc.context)
        elif isinstance(exc, tornado.web.HTTPError):
            self.send_error_json(exc.status_code, self._reason or "Error")
        else:
            self.send_error_json(500, "Internal server error")

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, (ApiError, BlobError)):
            return                      # expected client errors: no traceback in the log
        super().log_exception(typ, value, tb)

    def now(self) -> float:
        return self.config.now()


class NotFoundHandler(BaseHandler):
    """Every unknown route: 404 JSON."""

    auth_required = False

    def prepare(self) -> None:  # type: ignore[override]
        raise ApiError(404, "Not found", path=self.request.path)
