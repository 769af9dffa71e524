"""Job control against a real server: cancel (POST /jobs/{id}/cancel, DELETE /jobs/{id}) of
queued and running pipeline jobs, retry, and cursor pagination of GET /jobs; the client and
the ``mitraseti jobs`` command on the same server."""
from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from waiting import alive, wait_for  # noqa: E402
import test_jobs_harness as H  # noqa: E402
from test_executor import live_group_members  # noqa: E402

from mitraseti import cli  # noqa: E402
from mitraseti.client import Client, MitraSETIAPIError  # noqa: E402

SLOW = {"max_drift": 50.0}       # ~10-30 s of de-Doppler search on the file below


def job_of(server, headers, job_id) -> dict:
    r = requests.get(f"{server.url}/jobs/{job_id}", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def analyze(server, headers, key, **params) -> requests.Response:
    return requests.post(server.url + "/analyze", headers=headers, timeout=30,
                         json={"file_key": key, **params})


def wait_status(server, headers, job_id, statuses, timeout=240.0) -> dict:
    return wait_for(lambda: (lambda j: j if j["status"] in statuses else None)(
        job_of(server, headers, job_id)), timeout=timeout, every=0.2)


def cancel(server, headers, job_id, method="post") -> requests.Response:
    if method == "delete":
        return requests.delete(f"{server.url}/jobs/{job_id}", headers=headers, timeout=30)
    return requests.post(f"{server.url}/jobs/{job_id}/cancel", headers=headers, timeout=30)


def retry(server, headers, job_id) -> requests.Response:
    return requests.post(f"{server.url}/jobs/{job_id}/retry", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def small_obs(tmp_path_factory) -> Path:
    return H.write_observation(tmp_path_factory.mktemp("obs") / "small.fil", nchans=1024)


def test_cancel_a_queued_job(start_server, make_account_on, small_obs, database):
    """max_workers=0: jobs stay queued. Cancel frees the concurrency slot at once; a
    finished job answers 409; other users' and unknown jobs 403 / 404."""
    server = start_server(max_workers=0, database=database or "")
    acct, other = make_account_on(server, "researcher"), make_account_on(server, "researcher")
    h = acct.headers
    key = H.upload(server, h, small_obs)
    ids = []
    for _ in range(5):                          # the researcher tier runs 5 at once
        r = analyze(server, h, key)
        assert r.status_code == 202, r.text
        ids.append(r.json()["job_id"])
    refused = analyze(server, h, key)
    assert refused.status_code == 429, refused.text
    assert requests.post(f"{server.url}/jobs/{ids[0]}/cancel", headers=other.headers,
                         timeout=30).status_code == 403
    assert cancel(server, h, str(uuid.uuid4())).status_code == 404

    r = cancel(server, h, ids[0], method="delete")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancelled" and body["job_id"] == ids[0]
    assert body["cancelled_at"] == body["completed_at"] >= body["created_at"]
    assert analyze(server, h, key).status_code == 202          # the slot is free at once
    assert job_of(server, h, ids[0])["status"] == "cancelled"

    again = cancel(server, h, ids[0])
    assert again.status_code == 409
    assert again.json() == {"error": "Job already finished", "job_id": ids[0],
                            "status": "cancelled"}
    not_failed = retry(server, h, ids[1])                       # queued: nothing to retry
    assert not_failed.status_code == 409 and not_failed.json()["status"] == "submitted"
    # 5 running again: a retry of the cancelled job is held to the same limit
    full = retry(server, h, ids[0])
    assert full.status_code == 429 and full.json()["running"] == 5
    assert cancel(server, h, ids[1]).status_code == 200
    assert retry(server, h, ids[0]).json() == {
        "job_id": ids[0], "status": "submitted", "status_url": f"/jobs/{ids[0]}",
        "message": "Processing started. Poll GET /jobs/{job_id} for status."}
    assert job_of(server, h, ids[0])["retries"] == 1


def test_cancel_a_running_job_stops_it_and_keeps_the_partial_report(
        start_server, make_account_on, tmp_path, small_obs):
    server = start_server(max_workers=1)
    acct = make_account_on(server, "researcher")
    h = acct.headers
    slow_obs = H.write_observation(tmp_path / "slow.fil", nchans=1 << 17, n_spectra=64)
    r = analyze(server, h, H.upload(server, h, slow_obs), **SLOW)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    small_key = H.upload(server, h, small_obs)
    queued = [analyze(server, h, small_key).json()["job_id"] for _ in range(4)]
    assert analyze(server, h, small_key).status_code == 429     # 5 running or queued

    # running: past the kernel's start, inside the notebook's cells
    job = wait_for(lambda: (lambda j: j if j["status"] == "processing" and j["progress"][
        "stage"] not in ("starting", "") else None)(job_of(server, h, job_id)),
        timeout=240, every=0.2)
    assert job["progress"]["stage"] != "export", job            # still far from the end
    pid = server.services.job_store.get(job_id).pid
    assert pid and alive(pid)

    r = cancel(server, h, job_id)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    sixth = analyze(server, h, small_key)                       # the slot is free at once
    assert sixth.status_code == 202, sixth.text
    for other in queued + [sixth.json()["job_id"]]:             # no more CPU for those
        assert cancel(server, h, other).status_code == 200

    wait_for(lambda: not alive(pid), timeout=30)                # the runner,
    wait_for(lambda: not live_group_members(pid), timeout=30)   # its kernel and children
    report = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
        requests.get(f"{server.url}/jobs/{job_id}/download", headers=h, timeout=30,
                     params={"format": "notebook"})), timeout=60)
    nb = requests.get(report.json()["download_url"], timeout=30).json()
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    ran = [c for c in code if c.get("execution_count")]
    assert ran and len(ran) < len(code), (len(ran), len(code))  # stopped part-way
    final = job_of(server, h, job_id)
    assert final["status"] == "cancelled" and "results" not in final
    assert server.services.job_store.get(job_id).pid is None
    assert not (server.config.data_dir / "work" / job_id).exists()


def test_retry_a_cancelled_job_to_completion(start_server, make_account_on, small_obs):
    server = start_server(max_workers=1)
    acct = make_account_on(server, "researcher")
    h = acct.headers
    key = H.upload(server, h, small_obs)
    job_id = analyze(server, h, key, max_drift=2.0).json()["job_id"]
    assert cancel(server, h, job_id).status_code == 200
    # the executor is done with it (killed and cleaned up, if it had started it)
    wait_for(lambda: job_id not in server.services.executor._active, timeout=60)
    used = requests.get(server.url + "/usage", headers=h, timeout=30).json()
    r = retry(server, h, job_id)
    assert r.status_code == 202, r.text
    assert r.json()["job_id"] == job_id
    done = wait_status(server, h, job_id, ("complete", "failed"))
    assert done["status"] == "complete", done
    assert done["retries"] == 1 and "cancelled_at" not in done
    assert done["results"]["raw_hits"] >= 1                    # the file's drifting tone
    # the monthly quota is not charged again
    assert requests.get(server.url + "/usage", headers=h,
                        timeout=30).json()["usage_this_month"] == used["usage_this_month"]
    again = cancel(server, h, job_id)
    assert again.status_code == 409 and again.json()["status"] == "complete"
    assert retry(server, h, job_id).status_code == 409


def test_cursor_walks_every_job_once_while_jobs_arrive(start_server, make_account_on,
                                                       database):
    server = start_server(max_workers=0, database=database or "")
    acct = make_account_on(server, "enterprise")
    store = server.services.job_store

    def insert(now: float):
        return store.submit(user_id=acct.user.user_id, tier="enterprise",
                            monthly_limit=10**6, concurrent_limit=10**6, file_key="k",
                            filename="f.fil", source_name="s", file_size=1, params={},
                            now=now)

    base = time.time() - 10_000
    jobs = [insert(base + i // 7) for i in range(230)]          # 7 jobs share each second
    expected = [j.job_id for j in sorted(jobs, key=lambda j: (
        j.created_at, j.inserted_ns, j.job_id), reverse=True)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        r = requests.get(server.url + "/jobs", headers=acct.headers, params=params,
                         timeout=30)
        assert r.status_code == 200, r.text
        seen += [j["job_id"] for j in r.json()]
        pages += 1
        cursor = r.headers.get("X-Next-Cursor")
        if pages == 1:
            insert(time.time())                                 # newer jobs mid-walk
            insert(base + 5)                                    # and one among the old
            link = r.headers["Link"]
            assert link.startswith(f"<{server.url}/jobs?limit=100&cursor=")
            assert link.endswith('>; rel="next"') and cursor in link
        if not cursor:
            assert "Link" not in r.headers
            break
    assert pages == 3 and len(seen) == len(set(seen))
    old = [j for j in seen if j in set(expected)]
    assert old == expected                                      # every job, in order
    for bad in ("not-a-cursor", "e30", "W1siYSJdXQ"):
        r = requests.get(server.url + "/jobs", headers=acct.headers, timeout=30,
                         params={"cursor": bad})
        assert r.status_code == 400 and r.json()["parameter"] == "cursor", r.text

    api = Client(server.url, api_key=acct.api_key)
    assert len(list(api.iter_jobs(page_size=100))) == 232
    first, following = api.jobs_page(limit=3)
    assert [j["job_id"] for j in first] + [j["job_id"] for j in api.jobs(3, following)] \
        == [j["job_id"] for j in api.jobs(6)]


def test_client_and_cli_cancel_retry_and_list(start_server, make_account_on, small_obs,
                                              capsys):
    server = start_server(max_workers=0)
    acct = make_account_on(server, "researcher")
    api = Client(server.url, api_key=acct.api_key)
    key = H.upload(server, acct.headers, small_obs)
    job_id = api.analyze(key)["job_id"]
    assert api.cancel(job_id)["status"] == "cancelled"
    with pytest.raises(MitraSETIAPIError) as info:
        api.cancel(job_id)
    assert info.value.status == 409
    assert api.retry(job_id)["status"] == "submitted"

    opts = ["--url", server.url, "--api-key", acct.api_key]
    assert cli.main(["jobs", "cancel", job_id, *opts]) == 0
    assert capsys.readouterr().out.strip() == f"job {job_id} cancelled"
    assert cli.main(["jobs", "cancel", job_id, *opts]) == 1          # 409
    assert "Job already finished" in capsys.readouterr().err
    assert cli.main(["jobs", "retry", job_id, *opts]) == 0
    assert capsys.readouterr().out.strip() == f"job {job_id} submitted again"
    assert cli.main(["jobs", "cancel", str(uuid.uuid4()), *opts]) == 2   # 404
    assert "Job not found" in capsys.readouterr().err
    second = api.analyze(key)["job_id"]
    assert cli.main(["jobs", "list", "--all", *opts]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [[second, "submitted"],
                                                    [job_id, "submitted"]]
    assert cli.main(["jobs", "list", "--limit", "1", "--json", *opts]) == 0
    assert [j["job_id"] for j in json.loads(capsys.readouterr().out)] == [second]


def test_dashboard_job_page_cancel_and_retry_buttons(start_server, make_account_on,
                                                     small_obs, tmp_path, monkeypatch):
    from mitraseti.dashboard import DashboardSession, JobPage, jobpage

    server = start_server(max_workers=0)
    acct = make_account_on(server, "researcher")
    session = DashboardSession(server.url, acct.api_key, cache_dir=tmp_path / "cache")
    job_id = session.submit(small_obs)["job_id"]
    page = JobPage(session, job_id)

    def shown(button) -> bool:
        return button.layout.display != "none"

    assert (shown(page.cancel_button), shown(page.retry_button)) == (True, False)
    assert not page.finished
    page.cancel_button.click()
    assert job_of(server, acct.headers, job_id)["status"] == "cancelled"
    assert ">cancelled</span>" in page.header.value
    assert "cancelled" in page.message.value
    assert not page.finished              # the partial report may still come: keep polling
    monkeypatch.setattr(jobpage, "REPORT_GRACE_S", 0.0)
    assert page.finished                  # after the grace, nothing more will change
    assert (shown(page.cancel_button), shown(page.retry_button)) == (False, True)
    page.cancel()                               # cancelled meanwhile elsewhere: a message
    assert "HTTP 409" in page.message.value
    page.retry_button.click()
    assert job_of(server, acct.headers, job_id)["status"] == "submitted"
    assert (shown(page.cancel_button), shown(page.retry_button)) == (True, False)
    assert not page.finished


def test_reconcile_kills_the_runner_of_a_job_cancelled_after_its_executor_died(
        start_server, make_account_on, small_obs):
    """The API process that ran the job crashed; the job was then cancelled (from another
    process): the next reconciliation kills the orphaned runner and clears its pid."""
    import subprocess

    from mitraseti_server.jobs.kernel_pool import RUNNER_MODULE

    server = start_server(max_workers=0)
    acct = make_account_on(server, "researcher")
    key = H.upload(server, acct.headers, small_obs)
    job_id = analyze(server, acct.headers, key).json()["job_id"]
    # a process that looks like this job's runner (module and job id on its command line)
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)",
                               RUNNER_MODULE, job_id], start_new_session=True)
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        store = server.services.job_store
        host = server.services.executor.owner.split(":")[0]
        store.update(job_id, status="processing", pid=orphan.pid,
                     owner=f"{host}:{dead.pid}:crashed")
        assert cancel(server, acct.headers, job_id).status_code == 200
        assert store.get(job_id).pid == orphan.pid
        server.services.executor.reconcile()
        assert orphan.wait(timeout=30) != 0                      # killed
        assert store.get(job_id).pid is None
        assert store.get(job_id).status == "cancelled"
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()
