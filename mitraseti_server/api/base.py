"""What every REST handler shares: services, authentication, JSON in and out, errors.

Handlers subclass ``BaseHandler``; requests are authenticated in ``prepare()`` unless the
class sets ``auth_required = False``. A handler parses the request (``body(schema)``),
calls one service method (``blocking(fn, ...)`` runs it off the IOLoop) and writes JSON.
Any ``MitraSETIError`` raised on the way is answered by its type
(``mitraseti_server.errors.http_status``) with ``{"error": message, **fields}``; Tornado's
own errors (404, 405, 413) get the same JSON shape; anything else is a 500 JSON body,
never an HTML traceback. No response names the server's software or version.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

import tornado.web
from tornado.ioloop import IOLoop

from mitraseti.errors import MitraSETIError
from mitraseti_server.api.validation import parse_body
from mitraseti_server.auth.tokens import authenticate_request
from mitraseti_server.config import ServiceConfig
from mitraseti_server.errors import (NotFound, PayloadTooLarge, QuotaExceeded, error_body,
                                     http_status)
from mitraseti_server.services import Services
from mitraseti_server.storage.database import Store, User

log = logging.getLogger("mitraseti_server")
SERVER_NAME = "MitraSETI"            # the Server header (no software version)
REASONS = {405: "Method not allowed", 413: "Request body too large"}
MAX_BODY = 16 * 1024 * 1024          # bytes of a JSON request body
DRAIN_LIMIT = 64 * 1024 * 1024       # read and drop up to this much of a refused body


@tornado.web.stream_request_body
class BaseHandler(tornado.web.RequestHandler):
    """JSON handler with ``self.services`` and ``self.user``. Bodies are streamed in, so
    one over ``max_body`` bytes is answered 413 JSON (not dropped by the HTTP layer)."""

    auth_required = True
    max_body = MAX_BODY

    def initialize(self, services: Services) -> None:
        self.services = services
        self.user: User | None = None
        self._chunks: list[bytes] = []
        self._received = 0

    @property
    def config(self) -> ServiceConfig:
        return self.services.config

    @property
    def store(self) -> Store:
        return self.services.store

    def set_default_headers(self) -> None:
        self.set_header("Server", SERVER_NAME)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        self.limit_body()
        if self.auth_required:
            self.user = await self.authenticate()

    def limit_body(self) -> None:
        """413 at once for a declared Content-Length over ``max_body``; a body of unknown
        length is read (up to the drain limit) and refused by ``body()``."""
        declared = self.request.headers.get("Content-Length", "")
        size = int(declared) if declared.isdigit() else None
        connection = self.request.connection
        if size is not None and size > self.max_body:
            if size <= self.max_body + DRAIN_LIMIT:
                connection.set_max_body_size(size)      # drained, so the client reads the 413
            raise PayloadTooLarge("Request body too large", max_size=self.max_body, size=size)
        connection.set_max_body_size(self.max_body + DRAIN_LIMIT)

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received <= self.max_body and not self._finished:
            self._chunks.append(chunk)

    async def authenticate(self) -> User:
        """The request's user; AuthError (403) otherwise. Override to plug other identity
        (the Jupyter extension maps its own logged-in user here)."""
        s = self.services
        return await authenticate_request(s.config, s.store, s.jwks, self.request.headers)

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated JSON API: no cookies, so no XSRF check."""

    # ---- in and out ---------------------------------------------------------------
    def body(self, schema_name: str) -> dict[str, Any]:
        """The JSON body checked against ``components/schemas/<schema_name>``."""
        if self._received > self.max_body:
            raise PayloadTooLarge("Request body too large", max_size=self.max_body,
                                  size=self._received)
        return parse_body(b"".join(self._chunks), schema_name)

    def blocking(self, fn: Callable, *args: Any):
        """Run a blocking service call (SQLite, blob store, DNS) off the IOLoop."""
        return IOLoop.current().run_in_executor(None, fn, *args)

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(obj))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        self.clear_header("Content-Disposition")
        if isinstance(exc, MitraSETIError):
            status, body = http_status(exc), error_body(exc)
            if isinstance(exc, QuotaExceeded):
                self.set_header("Retry-After", str(exc.retry_after))
        elif isinstance(exc, tornado.web.HTTPError) or exc is None:
            status = exc.status_code if exc is not None else status_code
            body = {"error": REASONS.get(status) or self._reason or "Error"}
            if status == 405:
                self.set_header("Allow", ", ".join(self.allowed_methods()))
        else:
            status, body = 500, {"error": "Internal server error"}
        self.write_json(body, status)

    def allowed_methods(self) -> list[str]:
        """HTTP methods this handler class implements."""
        base = tornado.web.RequestHandler
        return [m for m in self.SUPPORTED_METHODS
                if getattr(type(self), m.lower()) is not getattr(base, m.lower())]

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, MitraSETIError) and http_status(value) < 500:
            return                      # expected client errors: no traceback in the log
        super().log_exception(typ, value, tb)

    def now(self) -> float:
        return self.config.now()


class NotFoundHandler(BaseHandler):
    """Every unknown route: 404 JSON."""

    auth_required = False

    def prepare(self) -> None:  # type: ignore[override]
        raise NotFound("Not found", path=self.request.path)
