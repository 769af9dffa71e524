"""The service's metadata database through SQLAlchemy Core: the embedded SQLite file by
default, or PostgreSQL shared by several API processes (``storage.engine``).

``Store.transaction()`` is one transaction (``BEGIN IMMEDIATE`` on SQLite; nested calls
join the outer one); ``Store.read()`` one for reading. The platform's tables (users,
api_keys, uploads, reports) and their queries live here; the jobs layer defines its
tables and queries in ``jobs.store``. Both match the Alembic revisions in
``storage/migrations``, which ``Store.migrate()`` applies. No other module writes SQL.
Times are unix seconds (int).
"""
from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import URL

from mitraseti_server.errors import StoreError
from mitraseti_server.storage import engine as _engine

metadata = sa.MetaData()

users = sa.Table(
    "users", metadata,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("tier", sa.Text, nullable=False),
    sa.Column("external_sub", sa.Text, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("key_id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.user_id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("digest", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("active", sa.Integer, nullable=False, server_default="1"),
    sa.Column("inserted_ns", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("api_keys_user", "user_id", "created_at"),
)
uploads = sa.Table(
    "uploads", metadata,
    sa.Column("upload_id", sa.Text, primary_key=True),
    sa.Column("file_key", sa.Text, nullable=False),
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.user_id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger),
    sa.Column("multipart", sa.Integer, nullable=False, server_default="0"),
    sa.Column("parts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("completed_at", sa.BigInteger),
    sa.CheckConstraint("state IN ('pending', 'complete', 'aborted')",
                       name="uploads_state_check"),
    sa.Index("uploads_state", "state", "created_at"),
    sa.Index("uploads_key", "file_key"),
)
reports = sa.Table(
    "reports", metadata,
    sa.Column("report_id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("job_id", sa.Text, nullable=False),
    sa.Column("error_type", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True)
class User:
    """An account; ``tier`` is one of the config's tier names."""

    user_id: str
    name: str
    tier: str


class Store:
    """Thread-safe access to the database at ``target``: a SQLite file path, or a URL
    (``sqlite:///PATH``, ``postgresql://USER@HOST:PORT/DB``)."""

    def __init__(self, target: str | Path):
        self.url: URL = _engine.database_url(target)
        self.engine = _engine.make_engine(self.url)
        self.dialect: str = self.engine.dialect.name      # "sqlite" | "postgresql"
        self._local = threading.local()
        self._migrate_lock = threading.Lock()

    # ---- transactions ---------------------------------------------------------------
    @contextmanager
    def transaction(self, immediate: bool = True) -> Iterator[sa.Connection]:
        """One transaction, committed at the end (rolled back on error). On SQLite
        ``immediate`` takes the write lock at BEGIN. Nested calls join the outer one."""
        outer = getattr(self._local, "conn", None)
        if outer is not None:
            yield outer
            return
        with self.engine.connect() as conn:
            if immediate and self.dialect == "sqlite":
                conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                self._local.conn = conn
                try:
                    yield conn
                finally:
                    self._local.conn = None

    def read(self):
        """A transaction for reading (no write lock): ``with store.read() as conn``."""
        return self.transaction(immediate=False)

    def close(self) -> None:
        """Close every pooled connection (the engine reopens on the next use)."""
        self.engine.dispose()

    def migrate(self) -> None:
        """Apply pending Alembic revisions (every table, the jobs layer's included)."""
        with self._migrate_lock:
            _engine.migrate(self.engine)

    def insert_or_ignore(self, conn: sa.Connection, table: sa.Table, key: list[str],
                         **values) -> None:
        """INSERT ... ON CONFLICT (key) DO NOTHING, on either engine."""
        conn.execute(self.dialect_insert(table).values(**values)
                     .on_conflict_do_nothing(index_elements=key))

    def dialect_insert(self, table: sa.Table):
        """The engine's INSERT construct (it has ``on_conflict_do_*``)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    # ---- users ----------------------------------------------------------------------
    def create_user(self, name: str, tier: str, external_sub: str | None = None,
                    now: float | None = None) -> User:
        """Insert a user; StoreError if the name (or external subject) is taken."""
        user = User(str(uuid.uuid4()), name, tier)
        try:
            with self.transaction() as conn:
                conn.execute(users.insert().values(
                    user_id=user.user_id, name=name, tier=tier, external_sub=external_sub,
                    created_at=int(time.time() if now is None else now)))
        except sa.exc.IntegrityError:
            raise StoreError(f"user name {name!r} already exists") from None
        return user

    def get_user(self, user_id: str) -> User | None:
        return self._user(users.c.user_id, user_id)

    def get_user_by_name(self, name: str) -> User | None:
        return self._user(users.c.name, name)

    def get_user_by_external(self, external_sub: str) -> User | None:
        return self._user(users.c.external_sub, external_sub)

    def _user(self, column: sa.Column, value: str) -> User | None:
        with self.read() as conn:
            row = conn.execute(sa.select(users.c.user_id, users.c.name, users.c.tier)
                               .where(column == value)).first()
        return User(*row) if row else None

    def set_tier(self, name: str, tier: str) -> User:
        with self.transaction() as conn:
            cur = conn.execute(users.update().where(users.c.name == name).values(tier=tier))
            if cur.rowcount != 1:
                raise StoreError(f"no user named {name!r}")
        return self.get_user_by_name(name)

    def list_users(self) -> list[User]:
        with self.read() as conn:
            rows = conn.execute(sa.select(users.c.user_id, users.c.name, users.c.tier)
                                .order_by(users.c.name)).all()
        return [User(*r) for r in rows]

    # ---- API keys (the digest only; auth.keys makes and checks the keys) -------------
    def add_api_key(self, *, key_id: str, user_id: str, name: str, digest: str,
                    created_at: int, expires_at: int) -> bool:
        """Insert an active key; False when ``key_id`` is taken."""
        try:
            with self.transaction() as conn:
                conn.execute(api_keys.insert().values(
                    key_id=key_id, user_id=user_id, name=name, digest=digest,
                    created_at=created_at, expires_at=expires_at, active=1,
                    inserted_ns=time.time_ns()))
        except sa.exc.IntegrityError:
            return False
        return True

    def api_keys_of(self, user_id: str) -> list[dict]:
        """The user's keys (key_id, name, created_at, expires_at, active), oldest first."""
        k = api_keys.c
        with self.read() as conn:
            rows = conn.execute(sa.select(k.key_id, k.name, k.created_at, k.expires_at,
                                          k.active).where(k.user_id == user_id)
                                .order_by(k.created_at, k.inserted_ns)).all()
        return [dict(r._mapping) for r in rows]

    def api_key_owner(self, key_id: str) -> str | None:
        with self.read() as conn:
            return conn.execute(sa.select(api_keys.c.user_id)
                                .where(api_keys.c.key_id == key_id)).scalar()

    def revoke_api_key(self, key_id: str) -> None:
        with self.transaction() as conn:
            conn.execute(api_keys.update().where(api_keys.c.key_id == key_id)
                         .values(active=0))

    def api_key_with_user(self, key_id: str) -> dict | None:
        """digest, expires_at, active of a key with its user's user_id, name and tier."""
        k, u = api_keys.c, users.c
        with self.read() as conn:
            row = conn.execute(
                sa.select(k.digest, k.expires_at, k.active, u.user_id, u.name, u.tier)
                .join_from(api_keys, users, k.user_id == u.user_id)
                .where(k.key_id == key_id)).first()
        return dict(row._mapping) if row else None

    # ---- uploads --------------------------------------------------------------------
    def add_upload(self, *, upload_id: str, file_key: str, user_id: str, filename: str,
                   size: int | None, multipart: bool, parts: int, now: float) -> None:
        with self.transaction() as conn:
            conn.execute(uploads.insert().values(
                upload_id=upload_id, file_key=file_key, user_id=user_id, filename=filename,
                size=size, multipart=int(multipart), parts=parts, state="pending",
                created_at=int(now)))

    def get_upload(self, upload_id: str) -> dict | None:
        rows = self._uploads(uploads.c.upload_id == upload_id)
        return rows[0] if rows else None

    def has_complete_upload(self, file_key: str, user_id: str) -> bool:
        """True when the user finished an upload of ``file_key``."""
        u = uploads.c
        with self.read() as conn:
            return conn.execute(sa.select(sa.literal(1)).where(
                u.file_key == file_key, u.user_id == user_id, u.state == "complete")
            ).first() is not None

    def finish_upload(self, upload_id: str, state: str, now: float) -> bool:
        """pending -> complete | aborted; False if the upload was not pending."""
        u = uploads.c
        with self.transaction() as conn:
            cur = conn.execute(uploads.update()
                               .where(u.upload_id == upload_id, u.state == "pending")
                               .values(state=state, completed_at=int(now)))
            return cur.rowcount == 1

    def stale_uploads(self, cutoff: float) -> list[dict]:
        """Pending uploads created before ``cutoff`` (unix s)."""
        return self._uploads(uploads.c.state == "pending",
                             uploads.c.created_at < int(cutoff))

    def completed_uploads_before(self, cutoff: float) -> list[dict]:
        """Completed uploads finished before ``cutoff`` (unix s), oldest first."""
        return self._uploads(uploads.c.state == "complete",
                             uploads.c.completed_at < int(cutoff),
                             order_by=uploads.c.completed_at)

    def _uploads(self, *where, order_by=None) -> list[dict]:
        query = sa.select(uploads).where(*where)
        if order_by is not None:
            query = query.order_by(order_by)
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def delete_upload(self, upload_id: str) -> None:
        with self.transaction() as conn:
            conn.execute(uploads.delete().where(uploads.c.upload_id == upload_id))

    # ---- reports --------------------------------------------------------------------
    def add_report(self, *, user_id: str, job_id: str, error_type: str | None,
                   description: str | None, metadata_json: str, now: float) -> str:
        report_id = "rpt-" + uuid.uuid4().hex
        with self.transaction() as conn:
            conn.execute(reports.insert().values(
                report_id=report_id, user_id=user_id, job_id=job_id, error_type=error_type,
                description=description, metadata=metadata_json, created_at=int(now)))
        return report_id
