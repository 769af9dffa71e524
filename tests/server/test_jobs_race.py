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
from dbutil import rows  # noqa: E402


def test_50_parallel_submissions_start_exactly_5_jobs(tmp_path, database):
    """On the embedded SQLite file and on PostgreSQL (``database``)."""
    server = H.LiveServer(tmp_path / "data", "[executor]\nmax_workers = 0\n",
                          database=database).start()
    try:
        check_list_order_and_limit(server, tmp_path)
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
        found = rows(server.store, "SELECT status, COUNT(*) AS n FROM jobs WHERE user_id=:u"
                     " GROUP BY status", u=racer["user"].user_id)
        assert [(r["status"], r["n"]) for r in found] == [("submitted", 5)]     # queued, none lost
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


def check_list_order_and_limit(server, tmp_path):
    """GET /jobs lists newest first and honours ?limit (jobs stay queued: no pipeline)."""
    lister = server.user("lister", "researcher")
    obs = H.write_observation(tmp_path / "listed.fil", nchans=64)
    key = H.upload(server, lister["headers"], obs)
    ids = []
    for i in range(4):
        r = requests.post(server.url + "/analyze", headers=lister["headers"], timeout=30,
                          json={"file_key": key, "source_name": f"obs-{i}"})
        assert r.status_code == 202, r.text
        ids.append(r.json()["job_id"])
    listed = requests.get(server.url + "/jobs", headers=lister["headers"], timeout=30).json()
    assert [j["job_id"] for j in listed] == ids[::-1]
    assert [j["source_name"] for j in listed] == ["obs-3", "obs-2", "obs-1", "obs-0"]
    assert all(set(j) >= {"job_id", "status", "source_name", "created_at"} for j in listed)
    two = requests.get(server.url + "/jobs", headers=lister["headers"], timeout=30,
                       params={"limit": 2}).json()
    assert [j["job_id"] for j in two] == ids[::-1][:2]
