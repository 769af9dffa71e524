"""A server killed with SIGKILL mid-job and restarted loses no upload and leaves no job stuck
in ``processing``: the job is re-queued once; a second interruption fails it with
"interrupted"; the orphaned job process of the dead server is killed on restart. A clean
shutdown (SIGTERM) re-queues running jobs without counting an attempt."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from waiting import alive  # noqa: E402
import test_jobs_harness as H  # noqa: E402
from dbutil import rows  # noqa: E402


def wait_processing(server, headers, job_id, attempts):
    """Wait until the job runs its ``attempts``-th try with a live runner pid."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = server.job_row(job_id)
        if row["status"] == "processing" and row["attempts"] == attempts and row["pid"]:
            return row
        assert row["status"] in ("submitted", "processing"), row
        time.sleep(0.05)
    raise AssertionError(f"job never reached attempt {attempts}: {server.job_row(job_id)}")


def gone(pid: int, within: float = 15.0) -> bool:
    """True once ``pid`` has exited (SIGKILL delivery is asynchronous)."""
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.slow
def test_sigkill_mid_job_then_restart(tmp_path, database):
    """On the embedded SQLite file and on PostgreSQL (``database``)."""
    data = tmp_path / "data"
    server = H.LiveServer(data, database=database).start()
    try:
        rita = server.user("rita", "researcher")
        obs = H.write_observation(tmp_path / "observation.fil", nchans=1024)
        key = H.upload(server, rita["headers"], obs)
        r = requests.post(server.url + "/analyze", headers=rita["headers"], timeout=30,
                          json={"file_key": key})
        assert r.status_code == 202
        job_id = r.json()["job_id"]

        # 1st crash: the job was processing; its runner survives the server
        row = wait_processing(server, rita["headers"], job_id, attempts=1)
        server.kill9()
        orphan = row["pid"]
        assert server.job_row(job_id)["status"] == "processing"
        server.start()                     # same data dir
        assert gone(orphan)                # the restarted server killed the orphan
        row = wait_processing(server, rita["headers"], job_id, attempts=2)

        # 2nd crash during the 2nd attempt: the job fails with "interrupted"
        server.kill9()
        server.start()
        job = requests.get(f"{server.url}/jobs/{job_id}", headers=rita["headers"],
                           timeout=30).json()
        assert (job["status"], job["error"]) == ("failed", "interrupted")
        assert gone(row["pid"])
        assert all(r["status"] != "processing"
                   for r in rows(server.store, "SELECT status FROM jobs"))

        # the upload survived both crashes (a re-queued job completing from it: below)
        assert os.path.getsize(data / "blobs" / "objects" / key) == obs.stat().st_size
    finally:
        server.stop()


@pytest.mark.slow
def test_graceful_stop_then_crash_then_complete(tmp_path):
    """SIGTERM mid-job re-queues it without using up an attempt; after a later SIGKILL
    the job is re-queued once more and completes on its 2nd counted try, reading the
    upload that was made before both interruptions."""
    server = H.LiveServer(tmp_path / "data").start()
    try:
        rita = server.user("rita", "researcher")
        obs = H.write_observation(tmp_path / "observation.fil", nchans=512)
        key = H.upload(server, rita["headers"], obs)
        job_id = requests.post(server.url + "/analyze", headers=rita["headers"], timeout=30,
                               json={"file_key": key}).json()["job_id"]
        first = wait_processing(server, rita["headers"], job_id, attempts=1)
        server.stop()                                   # SIGTERM: clean shutdown
        row = server.job_row(job_id)
        assert (row["status"], row["attempts"]) == ("submitted", 0)
        assert gone(first["pid"])
        server.start()
        wait_processing(server, rita["headers"], job_id, attempts=1)
        server.kill9()                                  # now a crash
        server.start()
        job = H.wait_job(server, rita["headers"], job_id, timeout=240)
        assert job["status"] == "complete", job
        assert server.job_row(job_id)["attempts"] == 2
    finally:
        server.stop()
