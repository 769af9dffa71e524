"""The SQLAlchemy engine of the metadata database and its Alembic migrations.

Two engines share one schema: the embedded SQLite file (default) and PostgreSQL
(``postgresql://USER@HOST:PORT/DB``; the password, if any, from the URL or ``PGPASSWORD``).
On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time,
across processes); on PostgreSQL the stores lock the rows they check (``FOR UPDATE``).
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import URL, Engine, make_url

from mitraseti_server.errors import ConfigError

BUSY_TIMEOUT_S = 30.0
MIGRATIONS = "mitraseti_server.storage:migrations"
HEAD = "0004_job_control"
# schema_migrations names of the pre-Alembic code -> the Alembic revision they equal
LEGACY_REVISIONS = {"0001_platform": "0001_platform", "0002_jobs": "0002_jobs"}
# key of the PostgreSQL advisory lock held while migrating (any constant bigint)
MIGRATION_LOCK_KEY = 0x6D697472


def database_url(target: str | Path) -> URL:
    """The SQLAlchemy URL of ``target``: a file path or ``sqlite:///PATH`` (SQLite), or
    ``postgresql://USER@HOST:PORT/DB`` (driven by psycopg 3)."""
    text = str(target)
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).expanduser()))
    try:
        url = make_url(text)
    except sa.exc.ArgumentError:
        raise ConfigError(f"database {text!r} is not a URL", key="database") from None
    if url.get_backend_name() == "sqlite" and url.database:
        return url
    if url.get_backend_name() in ("postgresql", "postgres") and url.database:
        return url.set(drivername="postgresql+psycopg")
    raise ConfigError(f"database {url.render_as_string(hide_password=True)!r}: expected "
                      "sqlite:///PATH or postgresql://USER@HOST:PORT/DB", key="database")


def make_engine(url: URL) -> Engine:
    """A pooled engine for ``url``; SQLite files get WAL, foreign keys, a busy timeout and
    explicit ``BEGIN`` (``BEGIN IMMEDIATE`` with the ``sqlite_begin`` execution option)."""
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=24)
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, pool_size=8, max_overflow=24,
                              connect_args={"timeout": BUSY_TIMEOUT_S,
                                            "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None          # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        for pragma in ("foreign_keys=ON", f"busy_timeout={int(BUSY_TIMEOUT_S * 1000)}",
                       "synchronous=NORMAL"):
            cur.execute(f"PRAGMA {pragma}")
        _use_wal(cur, url.database)
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


def _use_wal(cur, path: str) -> None:
    """Put the SQLite file in WAL mode (it stays so). Switching a new file needs a lock
    that SQLite does not wait for (no busy handler), so while other connections are
    opening the same new file this retries until ``BUSY_TIMEOUT_S``."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    wait = 0.001
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise sqlite3.OperationalError(
                    f"{exc} (setting WAL mode on SQLite file {path})") from exc
        time.sleep(wait)
        wait = min(wait * 2, 0.05)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (every table, ``jobs`` included), in one
    transaction that excludes other migrating processes. A database made by the
    pre-Alembic code (a ``schema_migrations`` table) is first stamped with the revision
    its history equals, and that table is dropped."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                             {"k": MIGRATION_LOCK_KEY})
            cfg = AlembicConfig()
            cfg.set_main_option("script_location", MIGRATIONS)
            cfg.attributes["connection"] = conn
            legacy = _legacy_revision(conn)
            if legacy is not None:
                command.stamp(cfg, legacy)
                conn.execute(sa.text("DROP TABLE schema_migrations"))   # now Alembic's
            command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    with engine.connect() as conn:
        if "alembic_version" not in sa.inspect(conn).get_table_names():
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _legacy_revision(conn: sa.Connection) -> str | None:
    """The revision a pre-Alembic database is at, or None (new or already Alembic's)."""
    tables = set(sa.inspect(conn).get_table_names())
    if "alembic_version" in tables or "schema_migrations" not in tables:
        return None
    done = {row[0] for row in conn.execute(sa.text("SELECT name FROM schema_migrations"))}
    revision = None
    for name, rev in LEGACY_REVISIONS.items():      # ordered: the last one applied wins
        if name in done:
            revision = rev
    return revision
