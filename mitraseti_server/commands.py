"""Command line: ``mitraseti serve`` and ``mitraseti admin create-user|set-tier|token``.

``register(subparsers)`` adds the commands to an argparse sub-parser set (the
``mitraseti.cli`` entry point); each sets ``func(args) -> exit code``. ``main(argv)`` is the
same parser standalone (``python -m mitraseti_server``). Every command finds the data dir
the same way: ``--data-dir``, else ``$MITRASETI_DATA_DIR``, else ``~/.mitraseti``. Admin
commands work while the server runs (SQLite WAL, or PostgreSQL). ``--database`` (else
``$MITRASETI_DATABASE``) points every command at a PostgreSQL database instead of the
data dir's SQLite file; ``--storage`` (else ``$MITRASETI_STORAGE``) at an S3 bucket
instead of the data dir's blob folder.

Registering the commands imports only ``config`` and ``errors`` (traitlets and the
standard library), so ``mitraseti --help`` and ``mitraseti analyze`` stay cheap; the
database (SQLAlchemy, Alembic), server and auth modules (tornado, PyJWT) are imported when
a command runs. Configuration and database errors are
``mitraseti.errors.InputError`` subclasses, which the CLI reports on one line with exit
status 2. ``serve`` logs at INFO by default (``default_log_level``); ``-v`` /
``--log-level`` change it.
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

import mitraseti

from mitraseti.cli import add_logging_options, configure_logging, log_level_for
from mitraseti.errors import InputError
from mitraseti_server.config import TIER_NAMES, ServiceConfig
from mitraseti_server.errors import StoreError

if TYPE_CHECKING:  # the database layer (SQLAlchemy, Alembic) loads when a command runs
    from mitraseti_server.storage.database import Store

LOCAL_USER = "local"
LOCAL_TIER = "researcher"


def _engine_args(parser: argparse.ArgumentParser) -> None:
    """The data folder and the three engines, the same on ``serve`` and every ``admin``
    command (so one command line, or one environment, configures both)."""
    parser.add_argument("--data-dir", default=None,
                        help="service data folder (default: $MITRASETI_DATA_DIR or "
                             "~/.mitraseti)")
    parser.add_argument("--database", default=None,
                        help="metadata database: postgresql://USER@HOST:PORT/DB or "
                             "sqlite:///PATH (default: $MITRASETI_DATABASE, else the "
                             "SQLite file in the data folder)")
    parser.add_argument("--storage", default=None,
                        help="blob store: local or s3://BUCKET[/PREFIX] (default: "
                             "$MITRASETI_STORAGE, else local: the data folder's blobs/)")
    parser.add_argument("--executor", default=None,
                        help="where jobs run: local, dask://HOST:PORT (a Dask scheduler) or "
                             "dask-local[:N] (N Dask workers here) (default: "
                             "$MITRASETI_EXECUTOR, else local)")


def _overrides(args, *names: str) -> dict:
    """The command-line settings ``names`` the user gave (None: not given)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def register(subparsers) -> None:
    """Add ``serve`` and ``admin`` to an ``argparse`` sub-parsers object."""
    serve = subparsers.add_parser("serve", help="run the REST service")
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None,
                       help="TCP port (default 8000; 0 picks a free port)")
    serve.add_argument("--dashboard-port", type=int, default=8866,
                       help="serve the Voila dashboard on this port beside the API "
                            "(default 8866; 0 turns it off)")
    _engine_args(serve)
    serve.set_defaults(func=cmd_serve, default_log_level="INFO")

    admin = subparsers.add_parser("admin", help="manage users of the REST service")
    sub = admin.add_subparsers(dest="admin_command", required=True)
    create = sub.add_parser("create-user", help="create a user; prints its id and API key")
    create.add_argument("name")
    create.add_argument("--tier", default="researcher", choices=TIER_NAMES)
    _engine_args(create)
    create.set_defaults(func=cmd_create_user)
    tier = sub.add_parser("set-tier", help="change a user's tier")
    tier.add_argument("name")
    tier.add_argument("tier", choices=TIER_NAMES)
    _engine_args(tier)
    tier.set_defaults(func=cmd_set_tier)
    token = sub.add_parser("token", help="print a JWT for a user (local issuer)")
    token.add_argument("name")
    token.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    _engine_args(token)
    token.set_defaults(func=cmd_token)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mitraseti_server",
                                     description="MitraSETI REST service")
    add_logging_options(parser)
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(log_level_for(args))
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


# ---- admin -----------------------------------------------------------------------------
def _open(args) -> tuple[ServiceConfig, Store]:
    from mitraseti_server.storage.database import Store

    config = ServiceConfig.load(data_dir=args.data_dir,
                                **_overrides(args, "database", "storage", "executor"))
    store = Store(config.database_url)
    store.migrate()
    return config, store


def cmd_create_user(args) -> int:
    from mitraseti_server.auth.keys import create_api_key

    config, store = _open(args)
    user = store.create_user(args.name, args.tier)
    print(f"user_id: {user.user_id}")
    print(f"tier:    {user.tier}")
    if config.tier(user.tier).api_keys:
        key = create_api_key(store, user.user_id, "admin", now=config.now())
        print(f"api_key: {key.api_key}")
        print("Store this key securely. It will not be shown again.")
    else:
        print(f"The {user.tier} tier has no API keys; use `admin token {user.name}`.")
    return 0


def cmd_set_tier(args) -> int:
    _, store = _open(args)
    user = store.set_tier(args.name, args.tier)
    print(f"{user.name}: tier {user.tier}")
    return 0


def cmd_token(args) -> int:
    from mitraseti_server.auth.tokens import issue_token

    config, store = _open(args)
    user = store.get_user_by_name(args.name)
    if user is None:
        raise StoreError(f"no user named {args.name!r}")
    print(issue_token(config, user, ttl_s=args.ttl))
    return 0


# ---- serve -----------------------------------------------------------------------------
def ensure_local_account(config: ServiceConfig, store: Store) -> str | None:
    """On first start create the researcher account "local"; return its new API key
    (None when it already existed)."""
    from mitraseti_server.auth.keys import create_api_key

    if store.get_user_by_name(LOCAL_USER) is not None:
        return None
    try:
        user = store.create_user(LOCAL_USER, LOCAL_TIER)
    except StoreError:
        return None                     # created concurrently by another process
    return create_api_key(store, user.user_id, "local", ttl_days=365,
                          now=config.now()).api_key


def banner(config: ServiceConfig, api_key: str | None, dashboard: str | None = None) -> str:
    url = config.public_url + config.api_prefix
    lines = [f"MitraSETI {mitraseti.__version__} REST service listening on {url}",
             f"Data dir: {config.data_dir}"]
    key = api_key or "<your API key>"
    if api_key:
        lines += ["", f'Created the local account "{LOCAL_USER}" ({LOCAL_TIER} tier). '
                  "Its API key is shown ONCE; store it:", f"  {api_key}"]
    lines += ["", "Try:", f"  curl {url}/health",
              f'  curl -H "x-api-key: {key}" {url}/jobs',
              f"API description: {url}/openapi.json",
              (f"Dashboard: {dashboard}  (sign in with the API key)" if dashboard else
               "Dashboard: off (start with --dashboard-port 8866)"),
              "Admin: mitraseti admin create-user NAME --tier researcher"
              f" --data-dir {config.data_dir}"]
    return "\n".join(lines)


def _start_dashboard(config: ServiceConfig, port: int):
    """Start Voila on the dashboard notebook; (process, URL) or (None, None) with a
    warning when it cannot start (the API keeps running)."""
    from mitraseti.dashboard.launch import dashboard_url, start_voila

    api_url = config.public_url + config.api_prefix
    log_path = config.data_dir / "dashboard.log"
    try:
        proc = start_voila(api_url, port=port, host=config.host, log_path=log_path)
    except (OSError, FileNotFoundError) as exc:
        print(f"warning: dashboard not started: {exc}", file=sys.stderr)
        return None, None
    return proc, dashboard_url(port, config.host)


def cmd_serve(args) -> int:
    import asyncio
    import signal

    from mitraseti_server.app import bind, serve
    from mitraseti_server.storage.database import Store

    overrides = _overrides(args, "host", "port", "database", "executor", "storage")
    config = ServiceConfig.load(data_dir=args.data_dir, **overrides)
    store = Store(config.database_url)
    store.migrate()
    api_key = ensure_local_account(config, store)
    sockets = bind(config)
    voila = None
    dashboard = None
    if args.dashboard_port:
        voila, dashboard = _start_dashboard(config, args.dashboard_port)

    def ready(services) -> None:
        print(banner(config, api_key, dashboard), flush=True)

    async def run() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, task.cancel)
            except (NotImplementedError, RuntimeError):
                pass
        await serve(config, sockets=sockets, ready=ready)

    try:
        asyncio.run(run())
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass
    finally:
        if voila is not None:
            from mitraseti.dashboard.launch import stop_voila
            stop_voila(voila)
    print("MitraSETI REST service stopped.", flush=True)
    return 0
