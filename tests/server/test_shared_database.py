"""Several ``mitraseti serve`` processes on one PostgreSQL (a real PostgreSQL 15 server;
see postgres.py): the concurrency limit holds across processes, every job is claimed by
one process and runs once, and a process starting while another runs jobs leaves them
alone. Both processes share one data dir (one blob folder and secret), as processes on
one machine behind a proxy do."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_jobs_harness as H  # noqa: E402
from dbutil import rows  # noqa: E402
from waiting import wait_for  # noqa: E402


@pytest.fixture
def pg_url(postgres_server) -> str:
    return postgres_server.create_database()


def start_two(data_dir: Path, url: str, config_toml: str) -> list[H.LiveServer]:
    servers = [H.LiveServer(data_dir, config_toml, database=url) for _ in range(2)]
    for server in servers:
        server.start()
    return servers


def first_with_upload_and_second(data_dir: Path, url: str, user_name: str, obs: Path
                                 ) -> tuple[H.LiveServer, H.LiveServer, dict, str]:
    """Two processes on one data dir and database, one job at a time each: the first
    started, with a user who has uploaded ``obs`` (user, file key); the second not yet."""
    first = H.LiveServer(data_dir, "[executor]\nmax_workers = 1\n", database=url).start()
    second = H.LiveServer(data_dir, "[executor]\nmax_workers = 1\n", database=url)
    try:
        user = first.user(user_name, "researcher")
        key = H.upload(first, user["headers"], H.write_observation(obs, nchans=1024))
    except BaseException:
        first.stop()
        raise
    return first, second, user, key


def test_12_parallel_submissions_over_2_processes_accept_exactly_5(tmp_path, pg_url):
    servers = start_two(tmp_path / "data", pg_url, "[executor]\nmax_workers = 0\n")
    try:
        a, b = servers
        racer = a.user("racer", "researcher")             # concurrent limit: 5
        obs = H.write_observation(tmp_path / "observation.fil", nchans=256)
        key = H.upload(a, racer["headers"], obs)
        answers = H.submit_together(servers, racer["headers"], key, 12)
        codes = [r.status_code for r in answers]
        assert codes.count(202) == 5 and codes.count(429) == 7, sorted(codes)
        assert {r.json()["error"] for r in answers if r.status_code == 429} == \
            {"Too many concurrent jobs"}
        # each process answered 6: a limit kept inside each process would admit up to 10
        # (which process wins each race is up to PostgreSQL's row lock: not asserted)
        found = rows(a.store, "SELECT status, COUNT(*) AS n FROM jobs WHERE user_id=:u"
                     " GROUP BY status", u=racer["user"].user_id)
        assert [(r["status"], r["n"]) for r in found] == [("submitted", 5)]
        for server in servers:                            # both read the same state
            usage = requests.get(server.url + "/usage", headers=racer["headers"],
                                 timeout=30).json()
            assert usage["usage_this_month"] == 5
    finally:
        for server in servers:
            server.stop()


@pytest.mark.slow
def test_jobs_run_once_across_processes_and_a_new_process_leaves_them_alone(tmp_path,
                                                                             pg_url):
    first, second, user, key = first_with_upload_and_second(
        tmp_path / "data", pg_url, "runner", tmp_path / "observation.fil")
    try:
        post = lambda server: requests.post(  # noqa: E731
            server.url + "/analyze", json={"file_key": key}, headers=user["headers"],
            timeout=60)
        r = post(first)
        assert r.status_code == 202
        running = r.json()["job_id"]
        wait_for(lambda: first.job_row(running)["status"] == "processing", timeout=120)
        owner = first.job_row(running)["owner"]
        second.start()                      # its start-up reconciliation runs now
        assert first.job_row(running)["owner"] == owner
        more = [post(s).json()["job_id"] for s in (second, first, second)]
        for job_id in [running, *more]:
            job = H.wait_job(first, user["headers"], job_id, timeout=300)
            assert job["status"] == "complete", (job, first.log())
        jobs = rows(first.store, "SELECT job_id, attempts, owner FROM jobs")
        assert sorted(j["attempts"] for j in jobs) == [1, 1, 1, 1]     # none ran twice
        assert next(j for j in jobs if j["job_id"] == running)["owner"] == owner
    finally:
        second.stop()
        first.stop()


@pytest.mark.slow
def test_a_surviving_process_takes_over_the_jobs_of_one_that_crashed(tmp_path, pg_url):
    crashing, survivor, user, key = first_with_upload_and_second(
        tmp_path / "data", pg_url, "taken-over", tmp_path / "observation.fil")
    try:
        r = requests.post(crashing.url + "/analyze", json={"file_key": key},
                          headers=user["headers"], timeout=60)
        job_id = r.json()["job_id"]
        wait_for(lambda: crashing.job_row(job_id)["status"] == "processing", timeout=120)
        assert crashing.job_row(job_id)["owner"].split(":")[1] == str(crashing.proc.pid)
        survivor.start()
        crashing.kill9()                    # its job stays "processing", owner gone
        job = H.wait_job(survivor, user["headers"], job_id, timeout=300)
        assert job["status"] == "complete", survivor.log()
        row = survivor.job_row(job_id)
        assert row["attempts"] == 2
        assert row["owner"].split(":")[1] == str(survivor.proc.pid)
    finally:
        survivor.stop()
        crashing.stop()
