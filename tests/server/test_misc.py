"""GET /health, GET /usage, POST /reports, unknown routes and error bodies."""
import json

import requests
from dbutil import rows


def submit_job(live_server, acct):
    """A real row in the jobs room's table (its upload is missing, so it fails fast)."""
    cfg = live_server.services.config
    limits = cfg.tier(acct.user.tier)
    job = live_server.services.job_store.submit(
        user_id=acct.user.user_id, tier=acct.user.tier,
        monthly_limit=limits.files_per_month, concurrent_limit=limits.concurrent_jobs,
        file_key=f"uploads/{acct.user.user_id}/none/missing.fil", filename="missing.fil",
        source_name="missing", file_size=0, params={})
    return job.job_id


def test_health_is_open(live_server):
    r = requests.get(live_server.url + "/health")
    assert r.status_code == 200
    assert r.json() == {"status": "healthy", "version": "0.3.0"}


def test_unknown_routes_and_methods_are_json(live_server, make_account):
    r = requests.get(live_server.url + "/no/such/endpoint")
    assert r.status_code == 404 and r.json()["error"] == "Not found"
    acct = make_account("researcher")
    r = requests.delete(live_server.url + "/usage", headers=acct.headers)
    assert r.status_code == 405 and "error" in r.json()
    assert "<html" not in r.text.lower()


def test_usage_counts_jobs_this_month(live_server, make_account):
    acct = make_account("researcher")
    r = requests.get(live_server.url + "/usage", headers=acct.headers)
    assert r.status_code == 200
    assert r.json() == {
        "user_id": acct.user.user_id, "tier": "researcher", "usage_this_month": 0,
        "limit": 500, "remaining": 500,
        "tier_details": {"files_per_month": 500, "max_file_mb": 1024,
                         "price": "$99 USD/mo", "retention_days": 90}}
    submit_job(live_server, acct)
    submit_job(live_server, acct)
    body = requests.get(live_server.url + "/usage", headers=acct.headers).json()
    assert (body["usage_this_month"], body["remaining"]) == (2, 498)
    free = make_account("free")
    body = requests.get(live_server.url + "/usage", headers=free.headers).json()
    assert (body["tier"], body["limit"], body["usage_this_month"]) == ("free", 10, 0)
    assert body["tier_details"]["max_file_mb"] == 50
    assert body["tier_details"]["retention_days"] == 7
    assert requests.get(live_server.url + "/usage").status_code == 403


def test_reports(live_server, make_account):
    alice, bob = make_account("researcher"), make_account("researcher")
    job_id = submit_job(live_server, alice)
    url = live_server.url + "/reports"
    cases = [({}, 400, "Missing job_id"), ({"job_id": ""}, 400, "Missing job_id"),
             ({"job_id": job_id, "error_type": "crash"}, 400, "error_type"),
             ({"job_id": job_id, "metadata": [1]}, 400, "metadata"),
             ({"job_id": job_id, "description": 5}, 400, "description"),
             ({"job_id": "00000000-0000-0000-0000-000000000000"}, 404, "Job not found")]
    for body, status, text in cases:
        r = requests.post(url, headers=alice.headers, json=body)
        assert r.status_code == status, (body, r.text)
        assert text in r.json()["error"]
    r = requests.post(url, headers=bob.headers, json={"job_id": job_id})
    assert r.status_code == 403 and r.json()["error"] == "Job belongs to a different user"
    assert requests.post(url, json={"job_id": job_id}).status_code == 403
    assert requests.post(url, headers=alice.headers, data="nope").json() == {
        "error": "Invalid JSON body"}

    r = requests.post(url, headers=alice.headers, json={
        "job_id": job_id, "error_type": "pipeline_failure", "description": "it broke",
        "metadata": {"browser": "firefox", "screen": [1920, 1080]}})
    assert r.status_code == 201
    body = r.json()
    assert body["message"] == "Report submitted. Thank you."
    assert body["report_id"].startswith("rpt-") and len(body["report_id"]) == 36
    row, = rows(live_server.services.store, "SELECT * FROM reports WHERE report_id=:r",
                r=body["report_id"])
    assert (row["user_id"], row["job_id"], row["error_type"], row["description"]) == \
        (alice.user.user_id, job_id, "pipeline_failure", "it broke")
    assert json.loads(row["metadata"]) == {"browser": "firefox", "screen": [1920, 1080]}
    r = requests.post(url, headers=alice.headers, json={"job_id": job_id,
                                                        "error_type": "user_report"})
    assert r.status_code == 201 and r.json()["report_id"] != body["report_id"]
