"""The service's metadata database: one SQLite file in WAL mode, safe across threads and
processes (the admin CLI writes while the server runs).

``Store.connect()`` gives each thread its own connection (autocommit; write through
``store.transaction()``). The platform's tables (users, api_keys, uploads, reports) and
their queries live here; the jobs layer adds its tables with
``store.register_schema(sql, name)`` before ``store.migrate()`` and keeps its queries in
``jobs.store``. No other module writes SQL. Times are unix seconds (int).
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

from mitraseti_server.errors import StoreError

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


class Store:
    """Thread-safe access to the SQLite file at ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._schemas: list[tuple[str, str]] = []
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
    def register_schema(self, sql: str, name: str) -> None:
        """Add another layer's tables, applied once by ``migrate()`` (recorded by ``name``;
        write ``CREATE ... IF NOT EXISTS`` so databases made before the name existed
        migrate too)."""
        if (name, sql) not in self._schemas:
            self._schemas.append((name, sql))

    def migrate(self) -> None:
        """Apply pending platform migrations, then registered schemas."""
        with self._migrate_lock, self.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            pending = [(n, s) for n, s in MIGRATIONS if n not in done]
            pending += [(n, s) for n, s in self._schemas if n not in done]
            for name, sql in pending:
                for statement in _split_sql(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)",
                             (name, int(time.time())))

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

    # ---- API keys (the digest only; auth.keys makes and checks the keys) -------------
    def add_api_key(self, *, key_id: str, user_id: str, name: str, digest: str,
                    created_at: int, expires_at: int) -> bool:
        """Insert an active key; False when ``key_id`` is taken."""
        try:
            with self.transaction() as conn:
                conn.execute("INSERT INTO api_keys (key_id, user_id, name, digest, created_at,"
                             " expires_at, active) VALUES (?, ?, ?, ?, ?, ?, 1)",
                             (key_id, user_id, name, digest, created_at, expires_at))
        except sqlite3.IntegrityError:
            return False
        return True

    def api_keys_of(self, user_id: str) -> list[dict]:
        """The user's keys (key_id, name, created_at, expires_at, active), oldest first."""
        rows = self.connect().execute(
            "SELECT key_id, name, created_at, expires_at, active FROM api_keys"
            " WHERE user_id=? ORDER BY created_at, rowid", (user_id,))
        return [dict(r) for r in rows]

    def api_key_owner(self, key_id: str) -> str | None:
        row = self.connect().execute("SELECT user_id FROM api_keys WHERE key_id=?",
                                     (key_id,)).fetchone()
        return row[0] if row else None

    def revoke_api_key(self, key_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE api_keys SET active=0 WHERE key_id=?", (key_id,))

    def api_key_with_user(self, key_id: str) -> dict | None:
        """digest, expires_at, active of a key with its user's user_id, name and tier."""
        row = self.connect().execute(
            "SELECT k.digest, k.expires_at, k.active, u.user_id, u.name, u.tier"
            " FROM api_keys k JOIN users u ON u.user_id = k.user_id WHERE k.key_id=?",
            (key_id,)).fetchone()
        return dict(row) if row else None

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

    def has_complete_upload(self, file_key: str, user_id: str) -> bool:
        """True when the user finished an upload of ``file_key``."""
        row = self.connect().execute(
            "SELECT 1 FROM uploads WHERE file_key=? AND user_id=? AND state='complete'",
            (file_key, user_id)).fetchone()
        return row is not None

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
