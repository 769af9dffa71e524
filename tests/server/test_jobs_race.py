"""50 parallel POST /analyze for one user never admit a 6th concurrent job: the quota check
and the insert share one BEGIN IMMEDIATE transaction.

The server runs with ``max_workers = 0`` (executor paused: jobs queue in ``submitted``), so
no job can finish during the burst and free a slot; the count of 202s must be exactly 5."""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_jobs_harness as H  # noqa: E402


def test_50_parallel_submissions_start_exactly_5_jobs(tmp_path):
    server = H.LiveServer(tmp_path / "data", "[executor]\nmax_workers = 0\n").start()
    try:
        racer = server.user("racer", "researcher")
        obs = H.write_observation(tmp_path / "observation.fil", nchans=256)
        key = H.upload(server, racer["headers"], obs)

        def submit(_):
            return requests.post(server.url + "/analyze", json={"file_key": key},
                                 headers=racer["headers"], timeout=120)

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(submit, range(50)))
        codes = [r.status_code for r in answers]
        assert codes.count(202) == 5 and codes.count(429) == 45, sorted(codes)
        for r in answers:
            if r.status_code == 429:
                assert r.json() == {"error": "Too many concurrent jobs", "limit": 5,
                                    "running": 5, "tier": "researcher", "retry_after": 30}
                assert r.headers["Retry-After"] == "30"
        rows = server.store.connect().execute(
            "SELECT status, COUNT(*) FROM jobs WHERE user_id=? GROUP BY status",
            (racer["user"].user_id,)).fetchall()
        assert [tuple(r) for r in rows] == [("submitted", 5)]     # queued, none lost
        accepted = {r.json()["job_id"] for r in answers if r.status_code == 202}
        listed = requests.get(server.url + "/jobs", headers=racer["headers"],
                              timeout=30).json()
        assert {j["job_id"] for j in listed} == accepted
        assert all(j["status"] == "submitted" for j in listed)
        # the monthly counter moved with the accepted jobs only
        usage = requests.get(server.url + "/usage", headers=racer["headers"],
                             timeout=30).json()
        assert usage["usage_this_month"] == 5
    finally:
        server.stop()
