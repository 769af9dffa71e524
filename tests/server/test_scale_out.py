"""The service on its three shared engines at once: two ``mitraseti serve`` processes on
one PostgreSQL 15, moto's S3 server (``s3://BUCKET/PREFIX``) and a real Dask scheduler
with two worker processes (``dask://``).

- The reference's Quick Start (single signed PUT to S3) and Python example (multipart,
  54.5 MB) run end to end through the two API processes.
- 12 parallel POST /analyze spread over both processes admit exactly 5 (the 6th concurrent
  job is refused), and the 5 complete on the cluster, each run once.
- SIGKILL the Dask worker running a job while four jobs run: every job completes, the lost
  one starts exactly twice (never two runs at once), every other job once.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_jobs_harness as H  # noqa: E402
import test_quickstart as Q  # noqa: E402
from dask_cluster import SharedEngines, runner_of, worker_of  # noqa: E402
from waiting import alive, wait_for  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engines(postgres_server, s3_endpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("scale-out")
    shared = SharedEngines(root, postgres_server.create_database(), s3_endpoint)
    try:
        for _ in range(2):
            shared.api_server(root / "data")
        yield shared
    finally:
        shared.stop()


def run_script(name: str, script: str, server: H.LiveServer, cwd: Path, large: bool):
    cwd.mkdir()
    if large:
        H.write_large_observation(cwd / "observation.fil")
    else:
        H.write_observation(cwd / "observation.fil", nchans=1024)
    text = Q.localise(script, server.url, server.user(name, "researcher")["api_key"])
    path = cwd / ("quickstart.sh" if not large else "example.py")
    path.write_text(text)
    return Q.start_script(["bash", path.name] if not large else [sys.executable, path.name],
                          cwd)


def test_quick_start_and_multipart_on_postgresql_s3_and_dask(engines, tmp_path):
    a, b = engines.servers
    small = run_script("qs_bash", Q.QUICK_START, a, tmp_path / "bash", large=False)
    large = run_script("qs_python", Q.PYTHON_EXAMPLE, b, tmp_path / "python", large=True)
    out_small, _ = small.communicate(timeout=400)
    out_large, _ = large.communicate(timeout=400)
    assert small.returncode == 0 and "Status: complete" in out_small, out_small + a.log()
    url = out_small.strip().splitlines()[-1]
    assert url.startswith(engines.s3_endpoint + "/"), out_small   # signed by S3 itself
    assert {"raw_hits", "filtered_hits", "candidates"} <= set(requests.get(url, timeout=30)
                                                              .json())
    assert large.returncode == 0, out_large + b.log()
    assert "Multipart upload complete" in out_large and "Status: complete" in out_large
    job_id = re.search(r"Job submitted: (\S+)", out_large).group(1)
    cwd = tmp_path / "python"
    results = json.loads((cwd / f"{job_id[:8]}.json").read_text())
    assert (results["header"]["nchans"], results["header"]["n_spectra"]) == (1 << 20, 13)
    assert (cwd / f"{job_id[:8]}.fits").read_bytes().startswith(b"SIMPLE  =")
    assert (cwd / f"{job_id[:8]}.png").read_bytes().startswith(b"\x89PNG")
    # every object lives in the bucket under the prefix: the uploads and the job outputs
    keys = [o["Key"] for o in engines.list_objects()]
    assert keys and all(k.startswith("platform/") for k in keys), keys
    assert any(k.endswith(f"/{job_id}/results.json") for k in keys), keys
    assert [r.number for r in engines.cluster.runs(job_id)] == [1]


def test_sixth_concurrent_job_is_refused_across_processes_and_five_run_once(engines,
                                                                          tmp_path):
    a, b = engines.servers
    racer = a.user("racer", "researcher")                  # 5 concurrent jobs
    key = H.upload(a, racer["headers"], H.write_observation(tmp_path / "obs.fil",
                                                            nchans=4096))
    answers = H.submit_together([a, b], racer["headers"], key, 12)
    codes = [r.status_code for r in answers]
    assert codes.count(202) == 5 and codes.count(429) == 7, sorted(codes)
    assert {r.json()["error"] for r in answers if r.status_code == 429} == \
        {"Too many concurrent jobs"}
    accepted = [r.json()["job_id"] for r in answers if r.status_code == 202]
    for job_id in accepted:
        job = H.wait_job(a, racer["headers"], job_id, timeout=300)
        assert job["status"] == "complete", job
    for job_id in accepted:
        assert [r.number for r in engines.cluster.runs(job_id)] == [1], job_id


def test_a_killed_worker_loses_no_job_and_runs_none_twice(engines, tmp_path):
    a, b = engines.servers
    users = [a.user(f"kill{i}", "researcher") for i in range(2)]
    obs = H.write_observation(tmp_path / "obs.fil", nchans=1 << 16)
    keys = [H.upload(a, u["headers"], obs) for u in users]
    jobs = []
    for n in range(4):                                      # two per user, both processes
        user = users[n % 2]
        r = requests.post((a, b)[n % 2].url + "/analyze", headers=user["headers"],
                          json={"file_key": keys[n % 2]}, timeout=60)
        assert r.status_code == 202, r.text
        jobs.append((user, r.json()["job_id"]))
    victim = jobs[0][1]
    runner = wait_for(lambda: runner_of(victim), timeout=180, every=0.02)
    worker = worker_of(runner)
    assert worker in engines.cluster.worker_pids()
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not alive(runner), timeout=10, every=0.01)
    killed_at = time.time()
    engines.cluster.add_worker("worker-c")                  # the cluster's size restored
    for user, job_id in jobs:
        job = H.wait_job(a, user["headers"], job_id, timeout=400, exports=True)
        assert job["status"] == "complete", job
    runs = {job_id: engines.cluster.runs(job_id) for _, job_id in jobs}
    assert [r.number for r in runs[victim]] == [1, 2], runs[victim]
    assert runs[victim][1].started > killed_at              # never two runs at once
    assert all([r.number for r in runs[j]] == [1] for _, j in jobs if j != victim), runs
