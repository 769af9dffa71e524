"""The same handler classes served by Tornado alone (API-key auth), on a real port."""
from __future__ import annotations

import asyncio

import pytest
import requests
from tornado.httpserver import HTTPServer

from mitraseti_extension.auth import JupyterAuthMixin, jupyter_handler_class
from mitraseti_extension.mount import API_PATH


@pytest.fixture
def standalone(tmp_path):
    """A standalone app on 127.0.0.1 in a background event loop thread."""
    import threading

    from mitraseti_server.app import make_app
    from mitraseti_server.auth.keys import create_api_key
    from mitraseti_server.config import ServiceConfig

    config = ServiceConfig.load(data_dir=tmp_path / "data", env={}, port=0)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box = {}

    def run():
        asyncio.set_event_loop(loop)

        async def start():
            app = make_app(config)
            server = HTTPServer(app)
            server.listen(0, "127.0.0.1")
            box["port"] = next(iter(server._sockets.values())).getsockname()[1]
            box["app"], box["server"] = app, server
            started.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30)
    services = box["app"].services
    user = services.store.create_user("alice", "researcher")
    key = create_api_key(services.store, user.user_id, "test").api_key
    yield f"http://127.0.0.1:{box['port']}", key, box["app"]
    loop.call_soon_threadsafe(box["server"].stop)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    services.blobs.close()


def test_health_and_api_key_auth_without_jupyter(standalone):
    url, key, _ = standalone
    assert requests.get(f"{url}/health", timeout=10).json()["status"] == "healthy"
    assert requests.get(f"{url}/usage", headers={"x-api-key": key}, timeout=10).status_code == 200
    denied = requests.get(f"{url}/usage", headers={"Authorization": "token abc"}, timeout=10)
    assert denied.status_code == 403 and "error" in denied.json()


def test_mounted_classes_are_the_standalone_classes_plus_jupyter_auth(standalone):
    _, _, app = standalone
    from mitraseti_server.app import make_handlers

    for pattern, handler, kwargs in make_handlers("/" + API_PATH, app.services):
        wrapped = jupyter_handler_class(handler)
        assert issubclass(wrapped, handler)
        assert wrapped.__mro__[1] is JupyterAuthMixin
        assert wrapped.authenticate is JupyterAuthMixin.authenticate
        # every verb the standalone class answers is answered the same way when mounted
        for verb in ("get", "post", "put", "delete"):
            assert getattr(wrapped, verb) is getattr(handler, verb)
