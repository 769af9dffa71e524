"""Build the Tornado application and run it.

``make_handlers(prefix, services)`` lists every route (platform + jobs) under ``prefix``
(the Jupyter extension mounts them under ``/mitraseti/api``); ``make_app(config)`` wraps
them in an Application; ``serve(config)`` binds, starts the executor and the periodic
sweeps, and runs until cancelled.
"""
from __future__ import annotations

import asyncio
import logging
import socket

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.netutil import bind_sockets

from . import handlers_blobs, handlers_keys, handlers_misc, handlers_uploads
from .auth import JwksCache
from .blobs import make_blob_store
from .config import Config
from .handlers_base import NotFoundHandler, Services
from .handlers_uploads import sweep_stale_uploads
from .store import Store

log = logging.getLogger("mitraseti_server")
MAX_BODY = 16 * 1024 * 1024    # JSON bodies; blob PUTs stream and set their own limit


def build_services(config: Config) -> Services:
    """Store (migrated), blob store, JWKS cache, and the jobs room's parts if present."""
    store = Store(config.db_path)
    services = Services(config=config, store=store, blobs=make_blob_store(config))
    if config.oidc_jwks_url:
        services.jwks = JwksCache(config.oidc_jwks_url, ttl_s=config.jwks_cache_s,
                                  min_refresh_s=config.jwks_min_refresh_s)
    try:
        from .job_store import JobStore
        services.job_store = JobStore(store)
    except ImportError:                     # jobs room not installed
        pass
    store.migrate()
    try:
        from .executor import LocalExecutor
        services.executor = LocalExecutor(services)
    except ImportError:
        services.executor = None
    try:
        from .sweeper import Sweeper
        services.sweeper = Sweeper(services)
    except ImportError:
        services.sweeper = None
    return services


def _jobs_handlers() -> list:
    try:
        from .handlers_jobs import HANDLERS
    except ImportError:
        return []
    return list(HANDLERS)


def make_handlers(prefix: str, services: Services) -> list[tuple]:
    """(pattern, handler, kwargs) rules for every endpoint, with ``prefix`` applied."""
    prefix = prefix.rstrip("/")
    rules = (handlers_misc.HANDLERS + handlers_uploads.HANDLERS + handlers_keys.HANDLERS
             + handlers_blobs.HANDLERS + _jobs_handlers())
    return [(prefix + pattern + "/?" if not pattern.endswith("(.+)") else prefix + pattern,
             handler, {"services": services}) for pattern, handler in rules]


def make_app(config: Config, services: Services | None = None,
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
    """Start the executor (restart reconciliation happens there) and periodic sweeps on the
    current IOLoop; returns the callbacks so callers can stop them."""
    if services.executor is not None:
        services.executor.start()
    if services.sweeper is not None:
        services.sweeper.start()

    async def sweep_uploads() -> None:
        try:
            n = await IOLoop.current().run_in_executor(None, sweep_stale_uploads, services)
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
    if services.sweeper is not None:
        services.sweeper.stop()
    if services.executor is not None:
        services.executor.stop()


def bind(config: Config) -> list[socket.socket]:
    """Bind the listening sockets; with port 0 the chosen port is written to config."""
    sockets = bind_sockets(config.port, config.host or None)
    if config.port == 0:
        config.port = sockets[0].getsockname()[1]
    return sockets


async def serve(config: Config, sockets: list[socket.socket] | None = None,
                ready=None) -> None:
    """Run the service until cancelled. ``ready(services)`` is called once listening."""
    sockets = sockets if sockets is not None else bind(config)
    app = make_app(config)
    server = HTTPServer(app, max_body_size=MAX_BODY)
    server.add_sockets(sockets)
    callbacks = start_background(app.services)
    if ready is not None:
        ready(app.services)
    try:
        await asyncio.Event().wait()
    finally:
        stop_background(app.services, callbacks)
        server.stop()
        app.services.blobs.close()
