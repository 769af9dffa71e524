"""Job history pruning and result retention.

- History (after each job insert and completion): a user keeps at most the tier's
  ``job_history`` jobs; the oldest FINISHED (complete or failed) jobs beyond it are removed
  with their blobs. Running jobs are never pruned.
- Retention (``Sweeper.sweep_once``, run periodically by the app): finished jobs older than
  the tier's ``retention_days`` lose their blobs, and then their rows; uploaded
  observations completed longer ago than the same limit are deleted too
  (``expire_uploads``), except while a queued or running job still reads them. Objects
  are deleted BEFORE rows, so a crash in between leaves a row pointing at nothing (swept
  again next time), never an orphaned object nobody can find.
"""
from __future__ import annotations

import logging

from . import job_store as js

log = logging.getLogger("mitraseti_server.sweeper")
DAY_S = 86400


def job_prefix(user_id: str, job_id: str) -> str:
    """Blob-key prefix of one job's outputs."""
    return f"jobs/{user_id}/{job_id}/"


def _job_store(services):
    from .executor import job_store_of
    return job_store_of(services)


def tier_limits_for_user(services, user_id: str):
    """The user's TierLimits, or None when the user (or tier) is unknown."""
    user = services.store.get_user(user_id)
    if user is None:
        return None
    return services.config.tiers.get(user.tier)


def delete_job_blobs(services, job) -> None:
    """Delete every object under the job's prefix."""
    services.blobs.delete_prefix(job_prefix(job.user_id, job.job_id))


def _remove(services, jobs) -> int:
    for job in jobs:
        delete_job_blobs(services, job)      # objects first ...
    return _job_store(services).delete(j.job_id for j in jobs)   # ... then rows


def prune_history(services, user_id: str, keep: int) -> int:
    """Remove the user's oldest finished jobs beyond ``keep``; returns jobs removed."""
    doomed = _job_store(services).beyond_history(user_id, keep)
    if doomed:
        log.info("pruning %d old job(s) of user %s (history limit %d)", len(doomed),
                 user_id, keep)
    return _remove(services, doomed)


def expire_uploads(services, now: float) -> int:
    """Delete completed uploads older than their owner's tier ``retention_days`` (object
    first, then row); uploads a submitted or processing job uses are kept. Returns the
    number deleted."""
    tiers = services.config.tiers
    if not tiers:
        return 0
    shortest = min(float(t.retention_days) for t in tiers.values())
    rows = services.store.completed_uploads_before(now - shortest * DAY_S)
    if not rows:
        return 0
    busy = {key for j in _job_store(services).with_status(js.SUBMITTED, js.PROCESSING)
            for key in j.file_keys}            # every file of a cadence job
    deleted = 0
    for row in rows:
        limits = tier_limits_for_user(services, row["user_id"])
        if limits is None or row["file_key"] in busy:
            continue
        if row["completed_at"] >= now - float(limits.retention_days) * DAY_S:
            continue
        services.blobs.delete(row["file_key"])
        services.store.delete_upload(row["upload_id"])
        deleted += 1
    return deleted


class Sweeper:
    """Periodic retention sweep; ``start()`` on the server's IOLoop."""

    def __init__(self, services, interval_s: float | None = None):
        self.services = services
        cfg = services.config
        self.interval_s = float(interval_s or getattr(cfg, "sweep_interval_s", 600.0))
        self._callback = None

    def now(self) -> float:
        cfg = self.services.config
        return cfg.now() if hasattr(cfg, "now") else __import__("time").time()

    def sweep_once(self, now: float | None = None) -> int:
        """Apply retention and history limits to every user; returns jobs removed."""
        now = self.now() if now is None else now
        jobs = _job_store(self.services)
        removed = 0
        for user_id in jobs.users_with_jobs():
            limits = tier_limits_for_user(self.services, user_id)
            if limits is None:
                continue
            cutoff = now - float(limits.retention_days) * DAY_S
            removed += _remove(self.services, jobs.finished_before(user_id, cutoff))
            removed += prune_history(self.services, user_id, int(limits.job_history))
        expired = expire_uploads(self.services, now)
        if expired:
            log.info("retention sweep deleted %d upload(s)", expired)
        return removed

    def _tick(self) -> None:
        try:
            n = self.sweep_once()
            if n:
                log.info("retention sweep removed %d job(s)", n)
        except Exception:  # noqa: BLE001 - a failed sweep must not stop the next one
            log.exception("retention sweep failed")

    def start(self) -> None:
        """Run now and then every ``interval_s`` seconds on the current IOLoop."""
        from tornado.ioloop import PeriodicCallback

        self._tick()
        self._callback = PeriodicCallback(self._tick, self.interval_s * 1000)
        self._callback.start()

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
