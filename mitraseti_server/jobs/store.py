"""The jobs table: one row per analysis job, plus a monthly usage counter.

Rows live in the service's database (``storage.database.Store``: SQLite or PostgreSQL);
the tables are defined here and created by the Alembic revision ``0002_jobs`` (and later
ones) that ``store.migrate()`` applies. Every query on these tables is here. Times are
unix seconds (int). ``params``, ``results``, ``exports`` and ``progress`` are JSON text.
``exports`` maps a download format to its blob key.

Monthly quotas count ``job_usage`` (user, month) rather than job rows, so pruning old
history never gives a user new quota. The counter counts FILES: a cadence job (``params``
holds ``cadence``, its file keys in observing order, and ``filter_level``) adds one per
file, but is one job for the concurrency limit.

Several API processes may share one database: ``submit`` serialises a user's quota checks
by locking the user's ``job_usage`` row (``BEGIN IMMEDIATE`` on SQLite), and ``claim``
takes a queued job with ``SELECT ... FOR UPDATE SKIP LOCKED`` (SQLite: inside
``BEGIN IMMEDIATE``) and records the claiming executor in ``owner``.

Job control: ``cancel`` moves a queued or running job to ``cancelled`` in one guarded
UPDATE (executors poll ``status_of`` and stop the run); ``retry`` puts a failed or cancelled
job back in the queue. ``finish`` only changes an unfinished row and ``requeue`` a
``processing`` one, so a cancel that races with the end of a run is never overwritten.
``list_for_user`` pages with an opaque keyset cursor (``encode_cursor``).
"""
from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import sqlalchemy as sa

from mitraseti.errors import ParameterError
from mitraseti_server.errors import Conflict, NotFound, QuotaExceeded
from mitraseti_server.storage.database import Store, metadata

SUBMITTED, PROCESSING, COMPLETE, FAILED = "submitted", "processing", "complete", "failed"
CANCELLED = "cancelled"
STATUSES = (SUBMITTED, PROCESSING, COMPLETE, FAILED, CANCELLED)
RUNNING = (SUBMITTED, PROCESSING)
FINISHED = (COMPLETE, FAILED, CANCELLED)
RETRYABLE = (FAILED, CANCELLED)

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="submitted"),
    sa.Column("file_key", sa.Text, nullable=False),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("source_name", sa.Text, nullable=False),
    sa.Column("file_size", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("params", sa.Text, nullable=False, server_default="{}"),
    sa.Column("webhook_url", sa.Text),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("started_at", sa.BigInteger),
    sa.Column("completed_at", sa.BigInteger),
    sa.Column("error", sa.Text),
    sa.Column("results", sa.Text),
    sa.Column("exports", sa.Text, nullable=False, server_default="{}"),
    sa.Column("exports_ready", sa.Integer, nullable=False, server_default="0"),
    sa.Column("progress", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pid", sa.Integer),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("inserted_ns", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("owner", sa.Text),
    sa.Column("retries", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("status IN ('submitted', 'processing', 'complete', 'failed', "
                       "'cancelled')", name="jobs_status_check"),
    sa.Index("jobs_user_created", "user_id", "created_at"),
    sa.Index("jobs_status", "status", "created_at"),
    sa.Index("jobs_queue", "status", "created_at", "inserted_ns"),
)
job_usage = sa.Table(
    "job_usage", metadata,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("month", sa.Text, primary_key=True),
    sa.Column("jobs", sa.Integer, nullable=False, server_default="0"),
)


@dataclass
class Job:
    """One jobs row with JSON columns decoded."""

    job_id: str
    user_id: str
    status: str
    file_key: str
    filename: str
    source_name: str
    file_size: int
    params: dict
    webhook_url: str | None
    created_at: int
    started_at: int | None
    completed_at: int | None
    error: str | None
    results: dict | None
    exports: dict
    exports_ready: bool
    progress: dict | None
    attempts: int
    pid: int | None
    updated_at: int
    inserted_ns: int = 0
    owner: str | None = None
    retries: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Job":
        """A Job from a jobs row (a row's ``_mapping``)."""
        d = dict(row)
        for key, default in (("params", {}), ("results", None), ("exports", {}),
                             ("progress", None)):
            d[key] = json.loads(d[key]) if d[key] else default
        d["exports_ready"] = bool(d["exports_ready"])
        return cls(**d)

    def public(self) -> dict[str, Any]:
        """The JSON of GET /jobs/{id} (docs/api.md), also the webhook body."""
        out: dict[str, Any] = {
            "job_id": self.job_id, "status": self.status, "source_name": self.source_name,
            "filename": self.filename, "file_size": self.file_size,
            "created_at": self.created_at,
        }
        if self.completed_at is not None:
            out["completed_at"] = self.completed_at
        if self.status == PROCESSING:
            out["started_at"] = self.started_at
            out["progress"] = self.progress or {"stage": "starting", "fraction": 0.0}
        if self.status == COMPLETE:
            out["results"] = self.results or {}
            out["exports_ready"] = self.exports_ready
        if self.status == FAILED:
            out["error"] = self.error or "Unknown error"
        if self.status == CANCELLED:
            out["cancelled_at"] = self.completed_at
        if self.retries:
            out["retries"] = self.retries
        if self.cadence:
            out["cadence"] = list(self.cadence)
            out["filter_level"] = int(self.params.get("filter_level", 3))
        return out

    @property
    def cadence(self) -> list[str] | None:
        """The file keys of a cadence job (observing order, ON first); None otherwise."""
        keys = self.params.get("cadence")
        return list(keys) if keys else None

    @property
    def file_keys(self) -> list[str]:
        """Every uploaded file the job reads."""
        return self.cadence or [self.file_key]


def month_key(ts: float) -> str:
    """'YYYY-MM' of a unix time (UTC)."""
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m")


def seconds_until_next_month(ts: float) -> int:
    """Seconds from ``ts`` to the first second of the next UTC month (>= 1)."""
    now = _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    nxt = _dt.datetime(year, month, 1, tzinfo=_dt.timezone.utc)
    return max(1, int((nxt - now).total_seconds()))


def encode_cursor(job: Job) -> str:
    """The opaque GET /jobs cursor after ``job``: url-safe base64 of its sort key
    (created_at, inserted_ns, job_id)."""
    raw = json.dumps([job.created_at, job.inserted_ns, job.job_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int, str]:
    """The sort key in a cursor of ``encode_cursor``; ParameterError naming ``cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, inserted, job_id = json.loads(raw)
        if (type(created), type(inserted), type(job_id)) == (int, int, str):
            return created, inserted, job_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        pass
    raise ParameterError("Invalid cursor parameter", parameter="cursor",
                         expected="the X-Next-Cursor value of a previous GET /jobs")


class JobStore:
    """Queries on the jobs tables; every method opens its own short transaction."""

    def __init__(self, store: Store):
        self.store = store

    # ---- helpers ------------------------------------------------------------------
    def _query(self, query: sa.Select) -> list[Job]:
        with self.store.read() as conn:
            return [Job.from_row(r._mapping) for r in conn.execute(query)]

    @staticmethod
    def _encode(fields: dict[str, Any]) -> dict[str, Any]:
        return {k: json.dumps(v) if isinstance(v, (dict, list)) else v
                for k, v in fields.items()}

    # ---- creation -----------------------------------------------------------------
    def submit(self, *, user_id: str, tier: str, monthly_limit: int, concurrent_limit: int,
               file_key: str, filename: str, source_name: str, file_size: int,
               params: dict, webhook_url: str | None = None,
               now: float | None = None, files: int = 1) -> Job:
        """Check the monthly and concurrent quotas and insert the job in ONE transaction
        that holds the user's ``job_usage`` row locked (so the checks hold across API
        processes); raise QuotaExceeded instead. ``files``: how many files the job
        analyses (a cadence: all of them), each counted against the monthly quota; the
        job counts once against the concurrency limit."""
        now = time.time() if now is None else now
        month = month_key(now)
        job_id = str(uuid.uuid4())
        usage = (job_usage.c.user_id == user_id) & (job_usage.c.month == month)
        with self.store.transaction(immediate=True) as conn:
            self.store.insert_or_ignore(conn, job_usage, ["user_id", "month"],
                                        user_id=user_id, month=month, jobs=0)
            used = int(conn.execute(sa.select(job_usage.c.jobs).where(usage)
                                    .with_for_update()).scalar_one())
            if used + files > monthly_limit:
                extra = {"requested": int(files)} if files != 1 else {}
                raise QuotaExceeded("Monthly limit reached", limit=monthly_limit, used=used,
                                    tier=tier, retry_after=seconds_until_next_month(now),
                                    **extra)
            running = conn.execute(sa.select(sa.func.count()).select_from(jobs).where(
                jobs.c.user_id == user_id, jobs.c.status.in_(RUNNING))).scalar_one()
            if running >= concurrent_limit:
                raise QuotaExceeded("Too many concurrent jobs", limit=concurrent_limit,
                                    running=running, tier=tier, retry_after=30)
            conn.execute(jobs.insert().values(
                job_id=job_id, user_id=user_id, status=SUBMITTED, file_key=file_key,
                filename=filename, source_name=source_name, file_size=int(file_size),
                params=json.dumps(params), webhook_url=webhook_url, created_at=int(now),
                updated_at=int(now), inserted_ns=time.time_ns()))
            conn.execute(job_usage.update().where(usage)
                         .values(jobs=job_usage.c.jobs + int(files)))
        return self.get(job_id)

    # ---- reads --------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        found = self._query(sa.select(jobs).where(jobs.c.job_id == job_id))
        return found[0] if found else None

    def list_for_user(self, user_id: str, limit: int = 50,
                      after: tuple[int, int, str] | None = None) -> list[Job]:
        """Most recent first (created_at, inserted_ns, job_id descending); ``after``: the
        sort key of the last job of the previous page (``decode_cursor``), so jobs added
        meanwhile (newer) never shift the pages still to come."""
        key = (jobs.c.created_at, jobs.c.inserted_ns, jobs.c.job_id)
        query = sa.select(jobs).where(jobs.c.user_id == user_id)
        if after is not None:
            query = query.where(sa.tuple_(*key) < sa.tuple_(*map(sa.literal, after)))
        return self._query(query.order_by(*(c.desc() for c in key)).limit(int(limit)))

    def status_of(self, job_id: str) -> str | None:
        """The job's status only (cheap: executors poll it to notice a cancel)."""
        with self.store.read() as conn:
            return conn.execute(sa.select(jobs.c.status)
                                .where(jobs.c.job_id == job_id)).scalar()

    def cancelled_with_pid(self) -> list[Job]:
        """Cancelled jobs whose runner was not yet seen to stop (``pid`` still set)."""
        return self._query(sa.select(jobs).where(jobs.c.status == CANCELLED,
                                                 jobs.c.pid.is_not(None)))

    def with_status(self, *statuses: str) -> list[Job]:
        """Jobs in any of ``statuses``, oldest first (queue order)."""
        return self._query(sa.select(jobs).where(jobs.c.status.in_(statuses))
                           .order_by(jobs.c.created_at, jobs.c.inserted_ns))

    def usage_this_month(self, user_id: str, now: float | None = None) -> int:
        """Files submitted by the user in the current UTC month (one per single-file job,
        one per file of a cadence; pruning does not lower it)."""
        now = time.time() if now is None else now
        with self.store.read() as conn:
            used = conn.execute(sa.select(job_usage.c.jobs).where(
                job_usage.c.user_id == user_id,
                job_usage.c.month == month_key(now))).scalar()
        return int(used or 0)

    # ---- state changes ------------------------------------------------------------
    def claim(self, job_id: str, pid: int | None = None,
              owner: str | None = None) -> Job | None:
        """submitted -> processing for the executor ``owner`` (atomic: the row is taken
        with ``FOR UPDATE SKIP LOCKED``); None when another executor got it first."""
        now = int(time.time())
        with self.store.transaction(immediate=True) as conn:
            free = conn.execute(sa.select(jobs.c.job_id).where(
                jobs.c.job_id == job_id, jobs.c.status == SUBMITTED)
                .with_for_update(skip_locked=True)).scalar()
            if free is None:
                return None
            conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(
                status=PROCESSING, started_at=now, updated_at=now, pid=pid, owner=owner,
                attempts=jobs.c.attempts + 1,
                progress=json.dumps({"stage": "starting", "fraction": 0.0})))
        return self.get(job_id)

    def update(self, job_id: str, *, only_if: tuple[str, ...] | None = None,
               **fields: Any) -> bool:
        """Set columns (dict values JSON-encoded, updated_at refreshed); with ``only_if``
        only while the status is one of those. True when the row changed."""
        if not fields:
            return False
        fields["updated_at"] = int(time.time())
        query = jobs.update().where(jobs.c.job_id == job_id)
        if only_if is not None:
            query = query.where(jobs.c.status.in_(only_if))
        with self.store.transaction(immediate=True) as conn:
            return conn.execute(query.values(**self._encode(fields))).rowcount == 1

    def finish(self, job_id: str, status: str, *, results: dict | None = None,
               error: str | None = None) -> bool:
        """processing -> complete | failed, with results or a one-line error; False (no
        change) when the job has finished already (e.g. cancelled meanwhile)."""
        assert status in FINISHED, status
        return self.update(job_id, only_if=RUNNING, status=status,
                           completed_at=int(time.time()), results=results, error=error,
                           pid=None, progress=None)

    def cancel(self, job_id: str) -> tuple[bool, str | None]:
        """submitted | processing -> cancelled (one guarded UPDATE: the concurrency slot is
        free at once). Returns (changed, the status before); the pid stays for the
        executor that kills the run."""
        now = int(time.time())
        with self.store.transaction(immediate=True) as conn:
            before = conn.execute(sa.select(jobs.c.status).where(jobs.c.job_id == job_id)
                                  .with_for_update()).scalar()
            changed = conn.execute(
                jobs.update().where(jobs.c.job_id == job_id, jobs.c.status.in_(RUNNING))
                .values(status=CANCELLED, completed_at=now, updated_at=now,
                        progress=None)).rowcount == 1
        return changed, before

    def retry(self, job_id: str, *, tier: str, concurrent_limit: int,
              now: float | None = None) -> tuple[Job, Job]:
        """failed | cancelled -> submitted, in ONE transaction holding the user's
        ``job_usage`` row (as ``submit``): Conflict for another status, QuotaExceeded at
        the concurrency limit. The monthly quota is not charged again. Clears the last
        run (error, results, exports, progress, attempts) and counts ``retries``. Returns
        (the job before, the job after); the caller deletes the old exports' blobs."""
        now = time.time() if now is None else now
        old = self.get(job_id)
        if old is None:
            raise NotFound("Job not found", job_id=job_id)
        usage = (job_usage.c.user_id == old.user_id) & (job_usage.c.month == month_key(now))
        with self.store.transaction(immediate=True) as conn:
            self.store.insert_or_ignore(conn, job_usage, ["user_id", "month"],
                                        user_id=old.user_id, month=month_key(now), jobs=0)
            conn.execute(sa.select(job_usage.c.jobs).where(usage).with_for_update())
            row = conn.execute(sa.select(jobs).where(jobs.c.job_id == job_id)
                               .with_for_update()).first()
            if row is None:                     # pruned meanwhile
                raise NotFound("Job not found", job_id=job_id)
            old = Job.from_row(row._mapping)
            if old.status not in RETRYABLE:
                raise Conflict("Only a failed or cancelled job can be retried",
                               job_id=job_id, status=old.status)
            running = conn.execute(sa.select(sa.func.count()).select_from(jobs).where(
                jobs.c.user_id == old.user_id, jobs.c.status.in_(RUNNING))).scalar_one()
            if running >= concurrent_limit:
                raise QuotaExceeded("Too many concurrent jobs", limit=concurrent_limit,
                                    running=running, tier=tier, retry_after=30)
            conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(
                status=SUBMITTED, started_at=None, completed_at=None, error=None,
                results=None, exports="{}", exports_ready=0, progress=None, attempts=0,
                pid=None, owner=None, retries=jobs.c.retries + 1, updated_at=int(now)))
        return old, self.get(job_id)

    def add_export(self, job_id: str, fmt: str, key: str) -> None:
        """Record one uploaded export (format -> blob key) atomically."""
        with self.store.transaction(immediate=True) as conn:
            row = conn.execute(sa.select(jobs.c.exports).where(jobs.c.job_id == job_id)
                               .with_for_update()).first()
            if row is None:
                return
            exports = json.loads(row[0] or "{}")
            exports[fmt] = key
            conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(
                exports=json.dumps(exports), updated_at=int(time.time())))

    def requeue(self, job_id: str, **fields: Any) -> bool:
        """processing -> submitted after an interruption (attempts kept unless given);
        False when the job is no longer processing."""
        return self.update(job_id, only_if=(PROCESSING,), status=SUBMITTED, pid=None,
                           started_at=None, progress=None, owner=None, **fields)

    def delete(self, job_ids: Iterable[str]) -> int:
        ids = list(job_ids)
        if not ids:
            return 0
        with self.store.transaction(immediate=True) as conn:
            return conn.execute(jobs.delete().where(jobs.c.job_id.in_(ids))).rowcount

    # ---- retention ----------------------------------------------------------------
    def beyond_history(self, user_id: str, keep: int) -> list[Job]:
        """Finished jobs of the user beyond the newest ``keep`` jobs (oldest first)."""
        with self.store.read() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(jobs)
                                 .where(jobs.c.user_id == user_id)).scalar_one()
        excess = total - int(keep)
        if excess <= 0:
            return []
        return self._query(sa.select(jobs).where(jobs.c.user_id == user_id,
                                                 jobs.c.status.in_(FINISHED))
                           .order_by(jobs.c.created_at, jobs.c.inserted_ns).limit(excess))

    def finished_before(self, user_id: str, cutoff: float) -> list[Job]:
        """Finished jobs of the user created before ``cutoff`` (unix s)."""
        return self._query(sa.select(jobs).where(jobs.c.user_id == user_id,
                                                 jobs.c.status.in_(FINISHED),
                                                 jobs.c.created_at < int(cutoff)))

    def users_with_jobs(self) -> list[str]:
        with self.store.read() as conn:
            return list(conn.execute(sa.select(jobs.c.user_id).distinct()).scalars())
