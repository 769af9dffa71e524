"""Mount the REST service inside a running Jupyter Server.

Routes: ``<base_url>/mitraseti/api/...`` (every REST endpoint, Jupyter auth) and
``<base_url>/mitraseti`` (a landing page linking to the API and the dashboard). The service
reads the same validated configuration as ``mitraseti serve`` (``ServiceConfig``: the data
dir's config.toml and ``MITRASETI_*`` variables), plus ``c.ServiceConfig.<name>`` from
Jupyter's own config files; it uses the same data dir (``c.ServiceConfig.data_dir``, else
``$MITRASETI_DATA_DIR`` or ``~/.mitraseti``), so jobs submitted either way appear in both.
"""
from __future__ import annotations

import atexit
import os

from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from mitraseti_extension.auth import jupyter_handler_class
from mitraseti_extension.pages import LandingHandler
from mitraseti.dashboard.launch import dashboard_notebook

API_PATH = "mitraseti/api"
PAGE_PATH = "mitraseti"


def public_origin(serverapp) -> str:
    """scheme://host:port at which browsers and kernels reach this Jupyter Server."""
    scheme = "https" if getattr(serverapp, "certfile", None) else "http"
    host = serverapp.ip if serverapp.ip not in ("", "0.0.0.0", "::", "*") else "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{serverapp.port}"


def build(serverapp, data_dir: str | None = None):
    """(Config, Services, rules) for this Jupyter Server; nothing is started yet."""
    from mitraseti_server.app import build_services, make_handlers
    from mitraseti_server.config import ServiceConfig

    prefix = url_path_join(serverapp.base_url, API_PATH).rstrip("/")
    config = ServiceConfig.load(data_dir=data_dir, jupyter=serverapp.config,
                                api_prefix=prefix, base_url=public_origin(serverapp))
    services = build_services(config)
    rules = [(pattern, jupyter_handler_class(handler), kwargs)
             for pattern, handler, kwargs in make_handlers(prefix, services)]
    return config, services, rules


def _stop_at_exit(stop, services, callbacks) -> None:
    """Best effort at interpreter exit: the loop may be gone already."""
    try:
        stop(services, callbacks)
    except Exception:  # noqa: BLE001 - nothing left to report to
        pass


def mount(serverapp) -> None:
    """Add the API and landing page to ``serverapp.web_app`` and start the job executor."""
    from mitraseti_server.app import start_background, stop_background

    config, services, rules = build(serverapp)
    page = url_path_join(serverapp.base_url, PAGE_PATH)
    settings = {"api_url": config.public_url + config.api_prefix,
                "api_path": config.api_prefix, "notebook": dashboard_notebook(),
                "serverapp": serverapp}
    rules.append((page + "/?", LandingHandler, settings))
    serverapp.web_app.add_handlers(".*$", rules)
    serverapp.web_app.settings["mitraseti_services"] = services
    # kernels (the dashboard under Voila, notebooks) inherit these from the server process:
    # the API's URL, and Jupyter's token so the dashboard signs in as the server's owner
    os.environ.setdefault("MITRASETI_API_URL", settings["api_url"])
    token = getattr(serverapp.identity_provider, "token", "")
    if token:
        os.environ.setdefault("MITRASETI_API_TOKEN", token)

    def start() -> None:
        # the port may have moved (port_retries) between loading and listening
        config.base_url = public_origin(serverapp)
        if services.blobs.kind == "local":
            services.blobs.base_url = config.public_url
        callbacks = start_background(services)
        serverapp.web_app.settings["mitraseti_background"] = callbacks
        # a plain server extension gets no shutdown hook: stop at interpreter exit, so
        # running jobs are re-queued cleanly instead of being found orphaned next start
        atexit.register(_stop_at_exit, stop_background, services, callbacks)

    IOLoop.current().add_callback(start)
    serverapp.log.info("MitraSETI API mounted at %s (data dir %s)", config.api_prefix,
                       config.data_dir)
