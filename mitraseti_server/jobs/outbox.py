"""The webhook outbox: one ``webhook_deliveries`` row per event to send, and its queries.

Rows are created by the revision ``0004_job_control``. ``state`` is ``pending`` (due at
``next_attempt_at``, unix s), ``sending`` (claimed by the sender ``owner``, a
``host:pid:token``; ``next_attempt_at`` is then the end of its lease), ``delivered`` or
``failed`` (every attempt used, or the target refused by policy). ``body`` is the exact
JSON sent; ``inserted_ns`` orders the events of one job (they go out one at a time, in that
order). Every method is one short transaction (blocking); several processes may share the
table: ``claim`` takes rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` (SQLite: inside
``BEGIN IMMEDIATE``).
"""
from __future__ import annotations

import time
import uuid
from typing import Callable, Iterable

import sqlalchemy as sa

from mitraseti_server.storage.database import Store, metadata

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
OPEN = (PENDING, SENDING)                   # not yet delivered nor given up
KEEP_FINISHED_S = 30 * 86400                # delivered and failed rows are kept 30 days
MAX_ERROR_CHARS = 300

webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
    sa.Column("delivery_id", sa.Text, primary_key=True),
    sa.Column("job_id", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("last_code", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("delivered_at", sa.BigInteger),
    sa.Column("inserted_ns", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("owner", sa.Text),
    sa.CheckConstraint("state IN ('pending', 'sending', 'delivered', 'failed')",
                       name="webhook_deliveries_state_check"),
    sa.Index("webhook_deliveries_due", "state", "next_attempt_at"),
    sa.Index("webhook_deliveries_job", "job_id", "inserted_ns"),
)
_d = webhook_deliveries.c
PUBLIC_FIELDS = ("delivery_id", "event", "state", "attempts", "last_code", "last_error",
                 "created_at", "next_attempt_at", "delivered_at")


class Outbox:
    """Queries on ``webhook_deliveries`` (times are unix s)."""

    def __init__(self, store: Store):
        self.store = store

    def add(self, *, job_id: str, event: str, url: str, body: str, now: float,
            first_ns: int | None = None) -> str:
        """Queue one event, due at once; returns its delivery id. The job's events go
        out in insertion order, except that ``first_ns`` (the job's creation) orders a
        job's first ``job.submitted`` event ahead of any event a fast worker queued
        before it."""
        delivery_id = uuid.uuid4().hex
        with self.store.transaction() as conn:
            order_ns = time.time_ns()
            if first_ns and event == "job.submitted" and conn.execute(
                    sa.select(sa.literal(1)).where(_d.job_id == job_id,
                                                   _d.event == event)).first() is None:
                order_ns = int(first_ns)
            conn.execute(webhook_deliveries.insert().values(
                delivery_id=delivery_id, job_id=job_id, event=event, url=url, body=body,
                state=PENDING, attempts=0, next_attempt_at=int(now), created_at=int(now),
                inserted_ns=order_ns))
        return delivery_id

    # ---- the sender's side ----------------------------------------------------------
    def claim(self, owner: str, now: float, lease_s: float, limit: int) -> list[dict]:
        """Mark up to ``limit`` due rows ``sending`` for ``owner`` (lease ``lease_s``) and
        return them; a row is due when pending, ``next_attempt_at <= now``, and no earlier
        event of its job is still pending or sending."""
        due = self._due(now)
        with self.store.read() as conn:             # cheap check: no write lock when idle
            if conn.execute(sa.select(_d.delivery_id).where(*due).limit(1)).first() is None:
                return []
        with self.store.transaction(immediate=True) as conn:
            rows = [dict(r._mapping) for r in conn.execute(
                sa.select(webhook_deliveries).where(*due)
                .order_by(_d.next_attempt_at, _d.inserted_ns).limit(int(limit))
                .with_for_update(skip_locked=True, of=webhook_deliveries))]
            if rows:
                conn.execute(webhook_deliveries.update()
                             .where(_d.delivery_id.in_([r["delivery_id"] for r in rows]))
                             .values(state=SENDING, owner=owner,
                                     next_attempt_at=int(now + lease_s)))
        return rows

    @staticmethod
    def _due(now: float) -> list:
        earlier = webhook_deliveries.alias("earlier")
        e = earlier.c
        blocked = sa.exists().where(
            e.job_id == _d.job_id, e.state.in_(OPEN),
            sa.or_(e.inserted_ns < _d.inserted_ns,
                   sa.and_(e.inserted_ns == _d.inserted_ns, e.delivery_id < _d.delivery_id)))
        return [_d.state == PENDING, _d.next_attempt_at <= int(now), ~blocked]

    def record(self, delivery_id: str, owner: str, state: str, *, now: float,
               code: int | None, error: str | None, retry_at: float | None = None) -> bool:
        """The outcome of one attempt by ``owner``: ``delivered``, ``failed`` (given up;
        both keep ``owner``, the sender) or ``pending`` again at ``retry_at``; attempts + 1.
        False (nothing written) when the
        row is no longer this owner's claim (its lease expired and another took it)."""
        values = dict(state=state, attempts=_d.attempts + 1, last_code=code,
                      owner=None if state == PENDING else owner,   # who sent it, kept
                      last_error=error[:MAX_ERROR_CHARS] if error else None)
        if state == DELIVERED:
            values["delivered_at"] = int(now)
        values["next_attempt_at"] = int(retry_at if retry_at is not None else now)
        with self.store.transaction() as conn:
            done = conn.execute(webhook_deliveries.update().where(
                _d.delivery_id == delivery_id, _d.owner == owner, _d.state == SENDING)
                .values(**values))
            return done.rowcount == 1

    def release(self, owner: str, now: float) -> int:
        """Put ``owner``'s ``sending`` rows back to pending, due now (a clean stop)."""
        with self.store.transaction() as conn:
            return conn.execute(webhook_deliveries.update().where(
                _d.state == SENDING, _d.owner == owner).values(
                state=PENDING, owner=None, next_attempt_at=int(now))).rowcount

    def reclaim(self, now: float, owner_gone: Callable[[str | None], bool]) -> int:
        """``sending`` rows whose sender has ended (``owner_gone(owner)``) or whose lease
        has run out go back to pending, due now; returns how many."""
        with self.store.read() as conn:
            owners = set(conn.execute(sa.select(_d.owner).where(_d.state == SENDING)
                                      .distinct()).scalars())
        gone = [o for o in owners if o is not None and owner_gone(o)]
        stale = sa.or_(_d.next_attempt_at < int(now), _d.owner.is_(None),
                       _d.owner.in_(gone))
        with self.store.transaction() as conn:
            return conn.execute(webhook_deliveries.update().where(
                _d.state == SENDING, stale).values(
                state=PENDING, owner=None, next_attempt_at=int(now))).rowcount

    # ---- reads and retention --------------------------------------------------------
    def for_job(self, job_id: str) -> list[dict]:
        """The job's deliveries in sending order (``PUBLIC_FIELDS``; ``next_attempt_at``
        only while pending)."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(*(_d[f] for f in PUBLIC_FIELDS))
                                .where(_d.job_id == job_id)
                                .order_by(_d.inserted_ns, _d.delivery_id)).all()
        out = [dict(r._mapping) for r in rows]
        for row in out:
            if row["state"] != PENDING:
                row["next_attempt_at"] = None
        return out

    def delete_for_jobs(self, job_ids: Iterable[str]) -> int:
        """Delete every delivery of the jobs (the jobs were pruned)."""
        ids = list(job_ids)
        if not ids:
            return 0
        with self.store.transaction() as conn:
            return conn.execute(webhook_deliveries.delete()
                                .where(_d.job_id.in_(ids))).rowcount

    def prune_finished(self, cutoff: float) -> int:
        """Delete delivered and failed rows created before ``cutoff``."""
        with self.store.transaction() as conn:
            return conn.execute(webhook_deliveries.delete().where(
                _d.state.in_((DELIVERED, FAILED)), _d.created_at < int(cutoff))).rowcount
