"""Fixtures for the REST service tests: a REAL server on 127.0.0.1 (ephemeral port, own
IOLoop in a thread), a real SQLite file and blob folder in tmp_path, and real accounts.

    def test_x(live_server, make_account):
        acct = make_account("researcher")
        r = requests.get(live_server.url + "/usage", headers=acct.headers)
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, field

import pytest

from mitraseti_server.app import bind, serve
from mitraseti_server.auth.keys import create_api_key
from mitraseti_server.auth.tokens import issue_token
from mitraseti_server.config import ServiceConfig
from mitraseti_server.storage.database import User


@dataclass
class LiveServer:
    """A running service: ``url`` (no trailing slash, includes ``api_prefix``)."""

    config: ServiceConfig
    url: str = ""
    services: object = None
    _loop: asyncio.AbstractEventLoop | None = None
    _task: asyncio.Task | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None

    def start(self) -> "LiveServer":
        sockets = bind(self.config)          # port 0 -> real port written to config
        self.url = self.config.public_url + self.config.api_prefix

        def ready(services):
            self.services = services
            self._ready.set()

        async def main():
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            await serve(self.config, sockets=sockets, ready=ready)

        def run():
            try:
                asyncio.run(main())
            except asyncio.CancelledError:
                pass
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                self._error = exc
                self._ready.set()

        self._thread = threading.Thread(target=run, daemon=True, name="live-server")
        self._thread.start()
        if not self._ready.wait(60) or self._error is not None:
            raise RuntimeError(f"server did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(30)


@dataclass
class Account:
    """A real user with credentials: ``api_key`` (None on tiers without keys), ``token``
    (local JWT), ``headers`` (x-api-key when available, else Bearer)."""

    user: User
    api_key: str | None
    key_id: str | None
    token: str

    @property
    def headers(self) -> dict[str, str]:
        if self.api_key:
            return {"x-api-key": self.api_key}
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_config(data_dir, **overrides) -> ServiceConfig:
    """A config isolated from the caller's environment (env={}), listening on port 0.
    No pre-warmed kernels unless asked for (``kernel_pool_size``): each spare runs a
    warm-up pipeline, CPU the tests that never submit a job should not spend;
    test_kernel_pool.py covers the pool."""
    overrides.setdefault("kernel_pool_size", 0)
    overrides.setdefault("port", 0)
    overrides.setdefault("host", "127.0.0.1")
    return ServiceConfig.load(data_dir=data_dir, env={}, **overrides)


@pytest.fixture
def server_config(tmp_path) -> ServiceConfig:
    return make_config(tmp_path / "data")


@pytest.fixture
def live_server(server_config):
    server = LiveServer(server_config).start()
    yield server
    server.stop()


@pytest.fixture
def start_server(tmp_path):
    """``start_server(**config_overrides)`` -> a started LiveServer on its own data dir
    (stopped after the test); for tests that need non-default settings."""
    servers = []

    def start(**overrides) -> LiveServer:
        data_dir = tmp_path / f"data-{len(servers) + 1}"
        server = LiveServer(make_config(data_dir, **overrides)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def account_on(server: LiveServer, tier: str, name: str) -> Account:
    """A new user ``name`` on ``tier`` in the server's database, with an API key when the
    tier has them and a local JWT."""
    store, config = server.services.store, server.services.config
    user = store.create_user(name, tier)
    key = create_api_key(store, user.user_id, "test") if config.tier(tier).api_keys else None
    return Account(user, key.api_key if key else None, key.key_id if key else None,
                   issue_token(config, user))


@pytest.fixture
def make_account(live_server):
    """``make_account(tier="researcher", name=None)`` -> Account in the live server's DB."""
    counter = iter(range(1, 10_000))

    def make(tier: str = "researcher", name: str | None = None) -> Account:
        return account_on(live_server, tier, name or f"{tier}-user-{next(counter)}")

    return make


@pytest.fixture
def make_account_on():
    """``make_account_on(server, tier)`` -> Account on a server from ``start_server``."""
    counter = iter(range(1, 10_000))

    def make(server: LiveServer, tier: str = "researcher") -> Account:
        return account_on(server, tier, f"{tier}-user-{next(counter)}")

    return make


# ---- PostgreSQL (a real server from Debian's packages; see postgres.py) ---------------
@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL cluster for the session. Where it cannot start, the tests
    that use it FAIL in CI (``CI`` set) and are skipped elsewhere, with the reason."""
    from postgres import PostgresServer, PostgresUnavailable

    server = None
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:
        if server is not None:
            server.stop()
        message = f"PostgreSQL tests need a PostgreSQL 15 server: {exc}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    """The ``database`` setting of a test run on each engine: None (the embedded SQLite
    file) or the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_server").create_database()


# ---- S3 (moto's server on loopback) -----------------------------------------------------
@pytest.fixture(scope="session")
def s3_endpoint():
    """URL of moto's S3 server on 127.0.0.1 for the session (each test uses its own
    bucket); worker processes reach it as any S3 endpoint."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)   # S3's access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
