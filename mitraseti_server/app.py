"""Build the Tornado application and run it.

``make_handlers(prefix, services)`` lists every route under ``prefix`` (the Jupyter
extension mounts them under ``/mitraseti/api``); ``make_app(config)`` wraps them in an
Application; ``serve(config)`` binds, starts the executor and the periodic sweeps, and runs
until cancelled.
"""
from __future__ import annotations

import asyncio
import logging
import socket

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.netutil import bind_sockets

from mitraseti_server.api import blobs, jobs, keys, misc, uploads
from mitraseti_server.api.base import MAX_BODY, NotFoundHandler
from mitraseti_server.config import ServiceConfig
from mitraseti_server.services import Services, build_services

log = logging.getLogger("mitraseti_server")
ROUTES = misc.HANDLERS + uploads.HANDLERS + keys.HANDLERS + blobs.HANDLERS + jobs.HANDLERS

__all__ = ["bind", "build_services", "make_app", "make_handlers", "serve",
           "start_background", "stop_background"]


def make_handlers(prefix: str, services: Services) -> list[tuple]:
    """(pattern, handler, kwargs) rules for every endpoint, with ``prefix`` applied."""
    prefix = prefix.rstrip("/")
    return [(prefix + pattern + "/?" if not pattern.endswith("(.+)") else prefix + pattern,
             handler, {"services": services}) for pattern, handler in ROUTES]


def make_app(config: ServiceConfig, services: Services | None = None,
             **settings) -> tornado.web.Application:
    """The standalone application (unknown routes -> 404 JSON)."""
    services = services or build_services(config)
    app = tornado.web.Application(
        make_handlers(config.api_prefix, services),
        default_handler_class=NotFoundHandler,
        default_handler_args={"services": services},
        **settings)
    app.services = services
    return app


def start_background(services: Services) -> list[PeriodicCallback]:
    """Start the executor (restart reconciliation happens there), the retention sweeper
    and the stale-upload sweep on the current IOLoop; returns the callbacks to stop."""
    services.executor.start()
    services.sweeper.start()

    async def sweep_uploads() -> None:
        try:
            n = await IOLoop.current().run_in_executor(None, services.uploads.sweep_stale)
            if n:
                log.info("aborted %d stale upload(s)", n)
        except Exception:  # noqa: BLE001 - one failed sweep must not stop the next
            log.exception("stale upload sweep failed")

    callback = PeriodicCallback(sweep_uploads, services.config.sweep_interval_s * 1000)
    callback.start()
    IOLoop.current().add_callback(sweep_uploads)
    return [callback]


def stop_background(services: Services, callbacks: list[PeriodicCallback]) -> None:
    for cb in callbacks:
        cb.stop()
    services.sweeper.stop()
    services.executor.stop()


def bind(config: ServiceConfig) -> list[socket.socket]:
    """Bind the listening sockets; with port 0 the chosen port is written to config."""
    sockets = bind_sockets(config.port, config.host or None)
    if config.port == 0:
        config.port = sockets[0].getsockname()[1]
    return sockets


async def serve(config: ServiceConfig, sockets: list[socket.socket] | None = None,
                ready=None) -> None:
    """Run the service until cancelled. ``ready(services)`` is called once listening."""
    sockets = sockets if sockets is not None else bind(config)
    app = make_app(config)
    server = HTTPServer(app, max_body_size=MAX_BODY)   # handlers raise it per request
    server.add_sockets(sockets)
    callbacks = start_background(app.services)
    if ready is not None:
        ready(app.services)
    try:
        await asyncio.Event().wait()
    finally:
        stop_background(app.services, callbacks)
        server.stop()
        await app.services.blobs.aclose()     # the IOLoop's S3 client
        app.services.blobs.close()
        app.services.store.close()           # pooled database connections
