"""Job history pruning and result retention.

- History (after each job insert and completion): a user keeps at most the tier's
  ``job_history`` jobs; the oldest FINISHED (complete or failed) jobs beyond it are removed
  with their blobs. Running jobs are never pruned.
- Retention (``Sweeper``, run periodically by the app): finished jobs older than the tier's
  ``retention_days`` lose their blobs, and then their rows; uploaded observations
  completed longer ago than the same limit are deleted too (``expire_uploads``), except
  while a queued or running job still reads them. Objects are deleted BEFORE rows, so a
  crash in between leaves a row pointing at nothing (swept again next time), never an
  orphaned object nobody can find.
- Webhook deliveries (``jobs.outbox``): a removed job's rows go with it; delivered and
  failed rows are deleted 30 days after they were queued.
"""
from __future__ import annotations

import logging

from tornado.ioloop import PeriodicCallback

from mitraseti_server.jobs import store as js
from mitraseti_server.jobs.outbox import KEEP_FINISHED_S, Outbox
from mitraseti_server.storage.blobs import BlobStore
from mitraseti_server.storage.database import Store

log = logging.getLogger("mitraseti_server.sweeper")
DAY_S = 86400


def job_prefix(user_id: str, job_id: str) -> str:
    """Blob-key prefix of one job's outputs."""
    return f"jobs/{user_id}/{job_id}/"


class Retention:
    """History and retention limits applied to jobs, their blobs and uploads (blocking)."""

    def __init__(self, config, store: Store, jobs: js.JobStore, blobs: BlobStore):
        self.config, self.store, self.jobs, self.blobs = config, store, jobs, blobs
        self.outbox = Outbox(store)

    def tier_limits_for_user(self, user_id: str):
        """The user's TierLimits, or None when the user (or tier) is unknown."""
        user = self.store.get_user(user_id)
        return None if user is None else self.config.tiers.get(user.tier)

    def remove(self, jobs: list[js.Job]) -> int:
        """Delete the jobs' blobs, then their rows and webhook deliveries; returns rows
        deleted."""
        for job in jobs:
            self.blobs.delete_prefix(job_prefix(job.user_id, job.job_id))
        self.outbox.delete_for_jobs(j.job_id for j in jobs)
        return self.jobs.delete(j.job_id for j in jobs)

    def prune_history(self, user_id: str, keep: int) -> int:
        """Remove the user's oldest finished jobs beyond ``keep``; returns jobs removed."""
        doomed = self.jobs.beyond_history(user_id, keep)
        if doomed:
            log.info("pruning %d old job(s) of user %s (history limit %d)", len(doomed),
                     user_id, keep)
        return self.remove(doomed)

    def prune_user(self, user_id: str) -> int:
        """Apply the user's tier history limit (after a job finished)."""
        limits = self.tier_limits_for_user(user_id)
        return 0 if limits is None else self.prune_history(user_id, int(limits.job_history))

    def expire_uploads(self, now: float) -> int:
        """Delete completed uploads older than their owner's tier ``retention_days``
        (object first, then row); uploads a submitted or processing job uses are kept.
        Returns the number deleted."""
        tiers = self.config.tiers
        shortest = min(float(t.retention_days) for t in tiers.values())
        rows = self.store.completed_uploads_before(now - shortest * DAY_S)
        if not rows:
            return 0
        busy = {key for j in self.jobs.with_status(*js.RUNNING)
                for key in j.file_keys}            # every file of a cadence job
        deleted = 0
        for row in rows:
            limits = self.tier_limits_for_user(row["user_id"])
            if limits is None or row["file_key"] in busy:
                continue
            if row["completed_at"] >= now - float(limits.retention_days) * DAY_S:
                continue
            self.blobs.delete(row["file_key"])
            self.store.delete_upload(row["upload_id"])
            deleted += 1
        return deleted

    def sweep_once(self, now: float | None = None) -> int:
        """Apply retention and history limits to every user; returns jobs removed."""
        now = self.config.now() if now is None else now
        removed = 0
        for user_id in self.jobs.users_with_jobs():
            limits = self.tier_limits_for_user(user_id)
            if limits is None:
                continue
            cutoff = now - float(limits.retention_days) * DAY_S
            removed += self.remove(self.jobs.finished_before(user_id, cutoff))
            removed += self.prune_history(user_id, int(limits.job_history))
        self.outbox.prune_finished(now - KEEP_FINISHED_S)
        expired = self.expire_uploads(now)
        if expired:
            log.info("retention sweep deleted %d upload(s)", expired)
        return removed


class Sweeper:
    """Runs ``Retention.sweep_once`` now and every ``interval_s`` seconds on the IOLoop."""

    def __init__(self, retention: Retention, interval_s: float):
        self.retention = retention
        self.interval_s = float(interval_s)
        self._callback: PeriodicCallback | None = None

    def sweep_once(self, now: float | None = None) -> int:
        return self.retention.sweep_once(now)

    def _tick(self) -> None:
        try:
            n = self.sweep_once()
            if n:
                log.info("retention sweep removed %d job(s)", n)
        except Exception:  # noqa: BLE001 - a failed sweep must not stop the next one
            log.exception("retention sweep failed")

    def start(self) -> None:
        self._tick()
        self._callback = PeriodicCallback(self._tick, self.interval_s * 1000)
        self._callback.start()

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
