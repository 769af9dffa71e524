"""The service's metadata database: one SQLite file in WAL mode, safe across threads and
processes (the admin CLI writes while the server runs).

``Store.connect()`` gives each thread its own connection (autocommit; write through
``store.transaction()``). Other rooms add tables with ``store.register_schema(sql)``
before ``store.migrate()``. Times are unix seconds (int).
"""
from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

BUSY_TIMEOUT_MS = 30_000

# Ordered, append-only: (name, sql). Applied once each, recorded in schema_migrations.
MIGRATIONS: list[tuple[str, str]] = [
    ("0001_platform", """
CREATE TABLE users (
    user_id      TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    tier         TEXT NOT NULL,
    external_sub TEXT UNIQUE,
    created_at   INTEGER NOT NULL
);
CREATE TABLE api_keys (
    key_id     TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    digest     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);
CREATE TABLE uploads (
    upload_id    TEXT PRIMARY KEY,
    file_key     TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    filename     TEXT NOT NULL,
    size         INTEGER,
    multipart    INTEGER NOT NULL DEFAULT 0,
    parts        INTEGER NOT NULL DEFAULT 1,
    state        TEXT NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'complete', 'aborted')),
    created_at   INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE INDEX uploads_state ON uploads (state, created_at);
CREATE INDEX uploads_key ON uploads (file_key);
CREATE TABLE reports (
    report_id   TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    error_type  TEXT,
    description TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL
);
"""),
]


@dataclass(frozen=True)
class User:
    """An account; ``tier`` is one of the config's tier names."""

    user_id: str
    name: str
    tier: str


class StoreError(Exception):
    """A store operation failed for a reason the caller can report (e.g. duplicate name)."""


class Store:
    """Thread-safe access to the SQLite file at ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._schemas: list[tuple[str | None, str]] = []
        self._migrate_lock = threading.Lock()

    # ---- connections ----------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode, WAL, foreign keys, busy timeout)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            self._local.depth = 0
        return conn

    @contextmanager
    def transaction(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """``BEGIN [IMMEDIATE] ... COMMIT`` (ROLLBACK on error). Nested calls join the
        outer transaction."""
        conn = self.connect()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.depth = 0

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ---- schema ---------------------------------------------------------------------
    def register_schema(self, sql: str, name: str | None = None) -> None:
        """Add tables from another room. Named schemas run once; unnamed ones run at every
        ``migrate()`` and must be idempotent (``CREATE TABLE IF NOT EXISTS``)."""
        if (name, sql) not in self._schemas:
            self._schemas.append((name, sql))

    def migrate(self) -> None:
        """Apply pending platform migrations, then registered schemas."""
        with self._migrate_lock, self.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            pending = [(n, s) for n, s in MIGRATIONS if n not in done]
            pending += [(n, s) for n, s in self._schemas if n is None or n not in done]
            for name, sql in pending:
                for statement in _split_sql(sql):
                    conn.execute(statement)
                if name is not None:
                    conn.execute("INSERT INTO schema_migrations VALUES (?, ?)",
                                 (name, int(time.time())))

    def has_table(self, name: str) -> bool:
        row = self.connect().execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()
        return row is not None

    # ---- users ----------------------------------------------------------------------
    def create_user(self, name: str, tier: str, external_sub: str | None = None,
                    now: float | None = None) -> User:
        """Insert a user; StoreError if the name (or external subject) is taken."""
        user = User(str(uuid.uuid4()), name, tier)
        try:
            with self.transaction() as conn:
                conn.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                             (user.user_id, name, tier, external_sub,
                              int(time.time() if now is None else now)))
        except sqlite3.IntegrityError:
            raise StoreError(f"user name {name!r} already exists") from None
        return user

    def get_user(self, user_id: str) -> User | None:
        return self._user("user_id", user_id)

    def get_user_by_name(self, name: str) -> User | None:
        return self._user("name", name)

    def get_user_by_external(self, external_sub: str) -> User | None:
        return self._user("external_sub", external_sub)

    def _user(self, column: str, value: str) -> User | None:
        row = self.connect().execute(
            f"SELECT user_id, name, tier FROM users WHERE {column}=?", (value,)).fetchone()
        return User(*row) if row else None

    def set_tier(self, name: str, tier: str) -> User:
        with self.transaction() as conn:
            cur = conn.execute("UPDATE users SET tier=? WHERE name=?", (tier, name))
            if cur.rowcount != 1:
                raise StoreError(f"no user named {name!r}")
        return self.get_user_by_name(name)

    def list_users(self) -> list[User]:
        rows = self.connect().execute("SELECT user_id, name, tier FROM users ORDER BY name")
        return [User(*r) for r in rows]

    # ---- uploads --------------------------------------------------------------------
    def add_upload(self, *, upload_id: str, file_key: str, user_id: str, filename: str,
                   size: int | None, multipart: bool, parts: int, now: float) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO uploads (upload_id, file_key, user_id, filename, size, multipart,"
                " parts, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                (upload_id, file_key, user_id, filename, size, int(multipart), parts,
                 int(now)))

    def get_upload(self, upload_id: str) -> dict | None:
        row = self.connect().execute("SELECT * FROM uploads WHERE upload_id=?",
                                     (upload_id,)).fetchone()
        return dict(row) if row else None

    def finish_upload(self, upload_id: str, state: str, now: float) -> bool:
        """pending -> complete | aborted; False if the upload was not pending."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE uploads SET state=?, completed_at=? WHERE upload_id=? AND"
                " state='pending'", (state, int(now), upload_id))
            return cur.rowcount == 1

    def stale_uploads(self, cutoff: float) -> list[dict]:
        """Pending uploads created before ``cutoff`` (unix s)."""
        rows = self.connect().execute(
            "SELECT * FROM uploads WHERE state='pending' AND created_at < ?", (int(cutoff),))
        return [dict(r) for r in rows]

    def completed_uploads_before(self, cutoff: float) -> list[dict]:
        """Completed uploads finished before ``cutoff`` (unix s), oldest first."""
        rows = self.connect().execute(
            "SELECT * FROM uploads WHERE state='complete' AND completed_at < ?"
            " ORDER BY completed_at", (int(cutoff),))
        return [dict(r) for r in rows]

    def delete_upload(self, upload_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))

    # ---- reports --------------------------------------------------------------------
    def add_report(self, *, user_id: str, job_id: str, error_type: str | None,
                   description: str | None, metadata_json: str, now: float) -> str:
        report_id = "rpt-" + uuid.uuid4().hex
        with self.transaction() as conn:
            conn.execute("INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (report_id, user_id, job_id, error_type, description,
                          metadata_json, int(now)))
        return report_id


def _split_sql(script: str) -> list[str]:
    """Statements of a schema script (executescript would commit our transaction)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
