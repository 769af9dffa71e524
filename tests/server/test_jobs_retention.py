"""History pruning per tier and the retention sweeper, on a real SQLite file and real blob
files (no pipeline runs: jobs are finished through the job store)."""
from __future__ import annotations

import time

import pytest

from mitraseti_server.jobs import store as js

DAY = 86400


@pytest.fixture
def services(tmp_path):
    from mitraseti_server.app import build_services
    from mitraseti_server.config import ServiceConfig
    return build_services(ServiceConfig.load(data_dir=tmp_path / "data", env={}))


def add_job(services, user, created_at, status=js.COMPLETE):
    """A job created at ``created_at`` with two export objects, finished as ``status``."""
    job = services.job_store.submit(
        user_id=user.user_id, tier=user.tier, monthly_limit=10**6, concurrent_limit=10**6,
        file_key=f"uploads/{user.user_id}/u/obs.fil", filename="obs.fil",
        source_name="obs", file_size=1, params={}, now=created_at)
    for name in ("results.json", "catalog.fits"):
        key = f"jobs/{user.user_id}/{job.job_id}/{name}"
        services.blobs.put_bytes(key, b"x")
        services.job_store.add_export(job.job_id, name.split(".")[0], key)
    if status != js.SUBMITTED:
        services.job_store.finish(job.job_id, status, results={"raw_hits": 0})
    return job


def objects_of(services, job) -> bool:
    return services.blobs.exists(f"jobs/{job.user_id}/{job.job_id}/results.json")


def test_history_pruning_keeps_newest_and_running_jobs(services):
    user = services.store.create_user("pat", "free")          # job_history = 10
    now = time.time()
    jobs = [add_job(services, user, now - 1000 + i) for i in range(12)]
    running = add_job(services, user, now - 2000, status=js.SUBMITTED)   # oldest, running
    removed = services.retention.prune_history(user.user_id,
                            services.config.tiers["free"].job_history)
    assert removed == 3                                        # 13 jobs, keep 10
    left = {j.job_id for j in services.job_store.list_for_user(user.user_id, 100)}
    assert running.job_id in left                              # never prune a running job
    assert {j.job_id for j in jobs[:3]}.isdisjoint(left)       # the oldest finished went
    assert {j.job_id for j in jobs[3:]} <= left
    assert not any(objects_of(services, j) for j in jobs[:3])  # with their objects
    assert all(objects_of(services, j) for j in jobs[3:])
    # pruning does not give quota back
    assert services.job_store.usage_this_month(user.user_id, now=now) == 13


def test_retention_sweep_deletes_objects_then_rows(services):
    free = services.store.create_user("fay", "free")           # 7 days
    rich = services.store.create_user("ria", "researcher")     # 90 days
    now = time.time()
    old_free = add_job(services, free, now - 8 * DAY)
    new_free = add_job(services, free, now - 6 * DAY)
    old_running = add_job(services, free, now - 9 * DAY, status=js.SUBMITTED)
    old_failed = add_job(services, free, now - 30 * DAY, status=js.FAILED)
    rich_job = add_job(services, rich, now - 30 * DAY)
    removed = services.sweeper.sweep_once(now=now)
    assert removed == 2
    get = services.job_store.get
    assert get(old_free.job_id) is None and get(old_failed.job_id) is None
    assert not objects_of(services, old_free) and not objects_of(services, old_failed)
    for kept in (new_free, old_running, rich_job):
        assert get(kept.job_id) is not None and objects_of(services, kept)
    # a later sweep after 91 days also expires the researcher's job
    assert services.sweeper.sweep_once(now=now + 61 * DAY) >= 1
    assert get(rich_job.job_id) is None


def test_sweep_keeps_row_when_object_deletion_fails(services, monkeypatch):
    """Objects go first: if deleting them fails, the row stays (retried next sweep)."""
    user = services.store.create_user("sam", "free")
    job = add_job(services, user, time.time() - 10 * DAY)

    def refuse(prefix):
        raise OSError(f"disk error deleting {prefix}")
    monkeypatch.setattr(services.blobs, "delete_prefix", refuse)
    with pytest.raises(OSError):
        services.sweeper.sweep_once()
    assert services.job_store.get(job.job_id) is not None
    monkeypatch.undo()
    assert services.sweeper.sweep_once() == 1
    assert services.job_store.get(job.job_id) is None and not objects_of(services, job)


def test_month_helpers():
    import datetime as dt
    ts = dt.datetime(2026, 12, 31, 23, 59, 0, tzinfo=dt.timezone.utc).timestamp()
    assert js.month_key(ts) == "2026-12"
    assert js.seconds_until_next_month(ts) == 60
    ts = dt.datetime(2026, 2, 1, 0, 0, 0, tzinfo=dt.timezone.utc).timestamp()
    assert js.seconds_until_next_month(ts) == 28 * DAY


def add_upload(services, user, name, completed_at):
    """A completed single-PUT upload whose object exists, finished at ``completed_at``."""
    key = f"uploads/{user.user_id}/{name}/{name}.fil"
    services.store.add_upload(upload_id=f"up-{name}", file_key=key, user_id=user.user_id,
                              filename=f"{name}.fil", size=3, multipart=False, parts=1,
                              now=completed_at)
    services.blobs.put_bytes(key, b"fil")
    assert services.store.finish_upload(f"up-{name}", "complete", completed_at)
    return key


def test_retention_sweep_expires_old_uploads_but_not_ones_a_job_reads(services):
    free = services.store.create_user("uma", "free")           # 7 days
    rich = services.store.create_user("rob", "researcher")     # 90 days
    now = time.time()
    old = add_upload(services, free, "old", now - 8 * DAY)
    fresh = add_upload(services, free, "fresh", now - 6 * DAY)
    rich_old = add_upload(services, rich, "richold", now - 30 * DAY)
    in_use = add_upload(services, free, "inuse", now - 20 * DAY)
    services.job_store.submit(
        user_id=free.user_id, tier=free.tier, monthly_limit=10**6, concurrent_limit=10**6,
        file_key=in_use, filename="inuse.fil", source_name="x", file_size=3, params={},
        now=now)                                               # still queued: keep its file
    services.sweeper.sweep_once(now=now)
    assert not services.blobs.exists(old) and services.store.get_upload("up-old") is None
    for key, upload_id in ((fresh, "up-fresh"), (rich_old, "up-richold"),
                           (in_use, "up-inuse")):
        assert services.blobs.exists(key) and services.store.get_upload(upload_id) is not None
