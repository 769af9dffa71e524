"""The jobs table: one row per analysis job, plus a monthly usage counter.

Rows live in the service's SQLite file (``storage.database.Store``); the schema is
registered through ``store.register_schema`` so ``store.migrate()`` creates it with the
platform's tables. Every query on these tables is here. Times are unix seconds (int). ``params``, ``results``, ``exports`` and
``progress`` are JSON text. ``exports`` maps a download format to its blob key.

Monthly quotas count ``job_usage`` (user, month) rather than job rows, so pruning old
history never gives a user new quota. The counter counts FILES: a cadence job (``params``
holds ``cadence``, its file keys in observing order, and ``filter_level``) adds one per
file, but is one job for the concurrency limit.
"""
from __future__ import annotations

import datetime as _dt
import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from mitraseti_server.errors import QuotaExceeded
from mitraseti_server.storage.database import Store

SUBMITTED, PROCESSING, COMPLETE, FAILED = "submitted", "processing", "complete", "failed"
STATUSES = (SUBMITTED, PROCESSING, COMPLETE, FAILED)
RUNNING = (SUBMITTED, PROCESSING)
FINISHED = (COMPLETE, FAILED)

SCHEMA_NAME = "0002_jobs"
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id        TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'submitted'
                  CHECK (status IN ('submitted', 'processing', 'complete', 'failed')),
    file_key      TEXT NOT NULL,
    filename      TEXT NOT NULL,
    source_name   TEXT NOT NULL,
    file_size     INTEGER NOT NULL DEFAULT 0,
    params        TEXT NOT NULL DEFAULT '{}',
    webhook_url   TEXT,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    completed_at  INTEGER,
    error         TEXT,
    results       TEXT,
    exports       TEXT NOT NULL DEFAULT '{}',
    exports_ready INTEGER NOT NULL DEFAULT 0,
    progress      TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    pid           INTEGER,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_user_created ON jobs (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS job_usage (
    user_id TEXT NOT NULL,
    month   TEXT NOT NULL,
    jobs    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, month)
);
"""


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

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple, names: list[str]) -> "Job":
        d = dict(zip(names, row))
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


class JobStore:
    """Queries on the jobs table; every method opens its own short transaction."""

    def __init__(self, store: Store):
        self.store = store
        store.register_schema(SCHEMA, name=SCHEMA_NAME)

    # ---- helpers ------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        return self.store.connect()

    def _query(self, sql: str, args: Iterable = ()) -> list[Job]:
        cur = self._conn().execute(sql, tuple(args))
        names = [c[0] for c in cur.description]
        return [Job.from_row(r, names) for r in cur.fetchall()]

    # ---- creation -----------------------------------------------------------------
    def submit(self, *, user_id: str, tier: str, monthly_limit: int, concurrent_limit: int,
               file_key: str, filename: str, source_name: str, file_size: int,
               params: dict, webhook_url: str | None = None,
               now: float | None = None, files: int = 1) -> Job:
        """Check the monthly and concurrent quotas and insert the job in ONE
        ``BEGIN IMMEDIATE`` transaction; raise QuotaExceeded instead. ``files``:
        how many files the job analyses (a cadence: all of them), each counted against the
        monthly quota; the job counts once against the concurrency limit."""
        now = time.time() if now is None else now
        month = month_key(now)
        job_id = str(uuid.uuid4())
        with self.store.transaction(immediate=True) as conn:
            row = conn.execute("SELECT jobs FROM job_usage WHERE user_id=? AND month=?",
                               (user_id, month)).fetchone()
            used = int(row[0]) if row else 0
            if used + files > monthly_limit:
                extra = {"requested": int(files)} if files != 1 else {}
                raise QuotaExceeded("Monthly limit reached", limit=monthly_limit, used=used,
                                    tier=tier, retry_after=seconds_until_next_month(now),
                                    **extra)
            running = conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE user_id=? AND status IN (?, ?)",
                (user_id, *RUNNING)).fetchone()[0]
            if running >= concurrent_limit:
                raise QuotaExceeded("Too many concurrent jobs", limit=concurrent_limit,
                                    running=running, tier=tier, retry_after=30)
            conn.execute(
                "INSERT INTO jobs (job_id, user_id, status, file_key, filename, source_name,"
                " file_size, params, webhook_url, created_at, updated_at)"
                " VALUES (?, ?, 'submitted', ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, user_id, file_key, filename, source_name, int(file_size),
                 json.dumps(params), webhook_url, int(now), int(now)))
            conn.execute(
                "INSERT INTO job_usage (user_id, month, jobs) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id, month) DO UPDATE SET jobs = jobs + excluded.jobs",
                (user_id, month, int(files)))
        return self.get(job_id)

    # ---- reads --------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        jobs = self._query("SELECT * FROM jobs WHERE job_id=?", (job_id,))
        return jobs[0] if jobs else None

    def list_for_user(self, user_id: str, limit: int = 50) -> list[Job]:
        """Most recent first."""
        return self._query("SELECT * FROM jobs WHERE user_id=? ORDER BY created_at DESC,"
                           " rowid DESC LIMIT ?", (user_id, int(limit)))

    def with_status(self, *statuses: str) -> list[Job]:
        """Jobs in any of ``statuses``, oldest first (queue order)."""
        marks = ",".join("?" * len(statuses))
        return self._query(f"SELECT * FROM jobs WHERE status IN ({marks})"
                           " ORDER BY created_at, rowid", statuses)

    def usage_this_month(self, user_id: str, now: float | None = None) -> int:
        """Files submitted by the user in the current UTC month (one per single-file job,
        one per file of a cadence; pruning does not lower it)."""
        now = time.time() if now is None else now
        row = self._conn().execute("SELECT jobs FROM job_usage WHERE user_id=? AND month=?",
                                   (user_id, month_key(now))).fetchone()
        return int(row[0]) if row else 0

    # ---- state changes ------------------------------------------------------------
    def claim(self, job_id: str, pid: int | None = None) -> Job | None:
        """submitted -> processing (atomic); None when another worker got it first."""
        now = int(time.time())
        with self.store.transaction(immediate=True) as conn:
            cur = conn.execute(
                "UPDATE jobs SET status='processing', started_at=?, updated_at=?, pid=?,"
                " attempts=attempts+1, progress=? WHERE job_id=? AND status='submitted'",
                (now, now, pid, json.dumps({"stage": "starting", "fraction": 0.0}), job_id))
            claimed = cur.rowcount == 1
        return self.get(job_id) if claimed else None

    def update(self, job_id: str, **fields: Any) -> None:
        """Set columns; dict values are JSON-encoded; updated_at is refreshed."""
        if not fields:
            return
        fields["updated_at"] = int(time.time())
        cols, vals = [], []
        for k, v in fields.items():
            cols.append(f"{k}=?")
            vals.append(json.dumps(v) if isinstance(v, (dict, list)) else v)
        with self.store.transaction(immediate=True) as conn:
            conn.execute(f"UPDATE jobs SET {', '.join(cols)} WHERE job_id=?",
                         (*vals, job_id))

    def finish(self, job_id: str, status: str, *, results: dict | None = None,
               error: str | None = None) -> None:
        """processing -> complete | failed, with results or a one-line error."""
        assert status in FINISHED, status
        self.update(job_id, status=status, completed_at=int(time.time()), results=results,
                    error=error, pid=None, progress=None)

    def add_export(self, job_id: str, fmt: str, key: str) -> None:
        """Record one uploaded export (format -> blob key) atomically."""
        with self.store.transaction(immediate=True) as conn:
            row = conn.execute("SELECT exports FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if row is None:
                return
            exports = json.loads(row[0] or "{}")
            exports[fmt] = key
            conn.execute("UPDATE jobs SET exports=?, updated_at=? WHERE job_id=?",
                         (json.dumps(exports), int(time.time()), job_id))

    def requeue(self, job_id: str, **fields: Any) -> None:
        """processing -> submitted after an interruption (attempts kept unless given)."""
        self.update(job_id, status=SUBMITTED, pid=None, started_at=None, progress=None,
                    **fields)

    def delete(self, job_ids: Iterable[str]) -> int:
        ids = list(job_ids)
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with self.store.transaction(immediate=True) as conn:
            return conn.execute(f"DELETE FROM jobs WHERE job_id IN ({marks})", ids).rowcount

    # ---- retention ----------------------------------------------------------------
    def beyond_history(self, user_id: str, keep: int) -> list[Job]:
        """Finished jobs of the user beyond the newest ``keep`` jobs (oldest first)."""
        total = self._conn().execute("SELECT COUNT(*) FROM jobs WHERE user_id=?",
                                     (user_id,)).fetchone()[0]
        excess = total - int(keep)
        if excess <= 0:
            return []
        return self._query(
            "SELECT * FROM jobs WHERE user_id=? AND status IN (?, ?)"
            " ORDER BY created_at, rowid LIMIT ?", (user_id, *FINISHED, excess))

    def finished_before(self, user_id: str, cutoff: float) -> list[Job]:
        """Finished jobs of the user created before ``cutoff`` (unix s)."""
        return self._query("SELECT * FROM jobs WHERE user_id=? AND status IN (?, ?)"
                           " AND created_at < ?", (user_id, *FINISHED, int(cutoff)))

    def users_with_jobs(self) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT DISTINCT user_id FROM jobs")]
