"""POST /analyze, GET /jobs, GET /jobs/{id}, GET /jobs/{id}/download against the real
server: every error row of the reference and the 202/200 shapes (the race on concurrent jobs
is in test_jobs_race.py)."""
from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_jobs_harness as H  # noqa: E402

from mitraseti.search.hit import CSV_COLUMNS  # noqa: E402

# Free tier: 1 job a month and 1 MB files, so quota rows are reachable with one job.
CONFIG = """
[tiers.free]
files_per_month = 1
max_file_mb = 1
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jobs_api")
    server = H.LiveServer(tmp / "data", CONFIG).start()
    obs = H.write_observation(tmp / "observation.fil", nchans=512)
    bad = tmp / "broken.fil"
    bad.write_bytes(b"HEADER_START? no, just bytes" * 20)
    try:
        yield {"server": server, "obs": obs, "bad": bad, "tmp": tmp,
               "fred": server.user("fred", "free"),
               "rita": server.user("rita", "researcher"),
               "otto": server.user("otto", "researcher"),
               "ines": server.user("ines", "institution")}
    finally:
        server.stop()


def post(env, who, body, raw=None):
    data = raw if raw is not None else json.dumps(body)
    return requests.post(env["server"].url + "/analyze", data=data, timeout=30,
                         headers=dict(env[who]["headers"], **{"Content-Type":
                                                              "application/json"}))


def get(env, who, path, **params):
    return requests.get(env["server"].url + path, headers=env[who]["headers"],
                        params=params, timeout=30)


@pytest.fixture(scope="module")
def fred_jobs(env):
    """One complete job of the free user (its whole monthly quota), polled as it ran."""
    key = H.upload(env["server"], env["fred"]["headers"], env["obs"])
    r = post(env, "fred", {"file_key": key, "filename": "observation.fil",
                           "source_name": "Voyager-like", "snr": 8})
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"job_id", "status", "message", "status_url"}
    assert body["status"] == "submitted"
    assert body["message"] == "Processing started. Poll GET /jobs/{job_id} for status."
    assert body["status_url"] == f"/jobs/{body['job_id']}"
    seen = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        job = get(env, "fred", f"/jobs/{body['job_id']}").json()
        seen.append(job)
        if job["status"] in ("complete", "failed") and job.get("exports_ready", True):
            break
        time.sleep(0.1)
    return {"key": key, "ids": [body["job_id"]], "seen": seen}


def test_analyze_202_body_and_job_shapes(env, fred_jobs):
    job = get(env, "fred", f"/jobs/{fred_jobs['ids'][0]}").json()
    assert job["status"] == "complete", job
    assert {"job_id", "status", "source_name", "filename", "file_size", "created_at",
            "completed_at", "results"} <= set(job)
    assert (job["source_name"], job["filename"]) == ("Voyager-like", "observation.fil")
    assert job["file_size"] == env["obs"].stat().st_size
    res = job["results"]
    assert {"raw_hits", "filtered_hits", "candidates", "processing_time_seconds",
            "top_candidates"} <= set(res)
    assert all(isinstance(res[k], int) for k in ("raw_hits", "filtered_hits", "candidates"))
    assert res["raw_hits"] >= res["filtered_hits"] >= res["candidates"]
    assert res["filtered_hits"] >= 1                  # the injected tone
    assert job["completed_at"] >= job["created_at"]
    # statuses only moved forward, and while processing the row carried progress
    order = ["submitted", "processing", "complete"]
    ranks = [order.index(j["status"]) for j in fred_jobs["seen"]]
    assert ranks == sorted(ranks)
    processing = [j for j in fred_jobs["seen"] if j["status"] == "processing"]
    assert processing, "never saw the job processing"
    assert all(0.0 <= p["progress"]["fraction"] <= 1.0 and p["progress"]["stage"]
               for p in processing)


def test_analyze_400_rows(env):
    key = "uploads/whatever/x/observation.fil"
    r = post(env, "rita", None, raw="{not json")
    assert (r.status_code, r.json()) == (400, {"error": "Invalid JSON body"})
    r = post(env, "rita", {"filename": "observation.fil"})
    assert r.status_code == 400 and r.json()["error"] == "Missing file_key"
    r = post(env, "rita", {"file_key": ""})
    assert r.status_code == 400 and r.json()["error"] == "Missing file_key"
    for name, value in (("max_drift", -1), ("min_drift", -0.5), ("snr", "high"),
                        ("n_coarse_chan", 1.5), ("snr", 0)):
        r = post(env, "rita", {"file_key": key, name: value})
        assert r.status_code == 400, (name, r.text)
        assert r.json()["parameter"] == name and name in r.json()["error"]
    r = post(env, "rita", {"file_key": key, "max_drift": 1, "min_drift": 2})
    assert r.status_code == 400 and "min_drift" in r.json()["error"]
    r = post(env, "ines", {"file_key": key, "webhook_url": "ftp://example.org/hook"})
    assert r.status_code == 400 and r.json()["parameter"] == "webhook_url"
    r = post(env, "rita", {"file_key": "uploads/../../etc/passwd"})
    assert r.status_code == 400 and r.json()["error"] == "Invalid file_key"


def test_analyze_403_rows(env):
    r = requests.post(env["server"].url + "/analyze", json={"file_key": "x"}, timeout=30)
    assert r.status_code == 403 and "error" in r.json()
    r = post(env, "rita", {"file_key": "uploads/x/y/z.fil",
                           "webhook_url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 403
    assert r.json() == {"error": "Webhooks require the Institution tier or above",
                        "tier": "researcher", "parameter": "webhook_url"}


def test_analyze_404_rows(env):
    rita, otto = env["rita"], env["otto"]
    missing = f"uploads/{rita['user'].user_id}/nope/observation.fil"
    r = post(env, "rita", {"file_key": missing})
    assert r.status_code == 404
    assert r.json()["file_key"] == missing and missing in r.json()["error"]
    assert r.json()["error"].startswith("File not found")
    # a key handed out but never uploaded
    plan = requests.post(env["server"].url + "/upload-url", headers=rita["headers"],
                         json={"filename": "later.fil"}, timeout=30).json()
    assert post(env, "rita", {"file_key": plan["file_key"]}).status_code == 404
    # another user's real upload: as unknown as a missing one
    otto_key = H.upload(env["server"], otto["headers"], env["obs"])
    r = post(env, "rita", {"file_key": otto_key})
    assert r.status_code == 404 and r.json()["file_key"] == otto_key


def test_analyze_413_when_object_exceeds_tier(env):
    big = env["tmp"] / "big.fil"
    H.write_observation(big, nchans=1 << 15, n_spectra=16)        # 2 MB > free's 1 MB
    dana = env["server"].user("dana", "researcher")
    key = H.upload(env["server"], dana["headers"], big)
    env["server"].store.set_tier("dana", "free")                    # downgraded since
    r = requests.post(env["server"].url + "/analyze", json={"file_key": key}, timeout=30,
                      headers=env["server"].bearer(dana["user"]))
    assert r.status_code == 413
    assert r.json() == {"error": "File exceeds tier size limit",
                        "file_size": big.stat().st_size, "max_size_mb": 1, "tier": "free"}


def test_analyze_429_monthly_limit(env, fred_jobs):
    r = post(env, "fred", {"file_key": fred_jobs["key"]})
    assert r.status_code == 429
    body = r.json()
    assert {k: body[k] for k in ("error", "limit", "used", "tier")} == {
        "error": "Monthly limit reached", "limit": 1, "used": 1, "tier": "free"}
    assert 0 < body["retry_after"] <= 31 * 86400
    assert r.headers["Retry-After"] == str(body["retry_after"])
    usage = get(env, "fred", "/usage").json()
    assert usage["usage_this_month"] == 1 and usage["remaining"] == 0


def test_failed_job_reports_reader_error(env):
    key = H.upload(env["server"], env["rita"]["headers"], env["bad"])
    r = post(env, "rita", {"file_key": key})
    assert r.status_code == 202, r.text
    job = H.wait_job(env["server"], env["rita"]["headers"], r.json()["job_id"], timeout=120)
    assert job["status"] == "failed" and "results" not in job
    assert job["source_name"] == job["filename"] == "broken.fil"    # defaults to filename
    assert job["error"].startswith("ObservationFormatError"), job["error"]
    assert "broken.fil" in job["error"] and "\n" not in job["error"]
    assert "/" not in job["error"].split(":")[1], job["error"]     # no server path shown
    # a failed job has no results to download: 404 naming the format
    r = get(env, "rita", f"/jobs/{job['job_id']}/download", format="json")
    assert r.status_code == 404 and r.json()["error"] == "Format not yet available"
    assert (r.json()["format"], r.json()["job_status"]) == ("json", "failed")


def test_jobs_list(env, fred_jobs):
    for bad in ("0", "101", "abc", "-3", "2.5"):
        r = get(env, "fred", "/jobs", limit=bad)
        assert r.status_code == 400 and r.json()["error"] == "Invalid limit parameter", bad
        assert r.json()["parameter"] == "limit", bad
    assert [j["job_id"] for j in get(env, "fred", "/jobs").json()] == fred_jobs["ids"]
    assert all(j["job_id"] not in fred_jobs["ids"] for j in get(env, "otto", "/jobs").json())
    # ordering (newest first) and limit with several jobs: test_jobs_race.py


def test_job_get_404_and_403(env, fred_jobs):
    r = get(env, "fred", "/jobs/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and r.json()["error"] == "Job not found"
    assert get(env, "fred", "/jobs/not-a-job").status_code == 404
    r = get(env, "otto", f"/jobs/{fred_jobs['ids'][0]}")
    assert r.status_code == 403
    assert r.json() == {"error": "Job belongs to a different user",
                        "job_id": fred_jobs["ids"][0]}


def test_download_rows(env, fred_jobs):
    job_id = fred_jobs["ids"][0]
    path = f"/jobs/{job_id}/download"
    r = get(env, "fred", path, format="xlsx")
    assert r.status_code == 400
    assert r.json()["error"] == "Invalid format parameter" and r.json()["parameter"] == "format"
    for fmt in ("json", "csv", "catalog_json", "classified", "fits", "waterfall",
                "waterfall_thumb", "notebook", "dat"):
        assert repr(fmt) in r.json()["expected"], fmt
    assert get(env, "otto", path).status_code == 403
    assert get(env, "fred", "/jobs/00000000-0000-4000-8000-000000000000/download"
               ).status_code == 404
    # default json: signed URL to the results.json the job's results came from
    info = get(env, "fred", path).json()
    assert (info["format"], info["filename"]) == ("json", "results.json")
    doc = requests.get(info["download_url"], timeout=30).json()
    results = get(env, "fred", f"/jobs/{job_id}").json()["results"]
    assert doc["raw_hits"] == results["raw_hits"]
    assert doc["candidates"] == results["candidates"]
    # csv inline
    r = get(env, "fred", path, format="csv")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = r.text.splitlines()
    assert rows[0].split(",") == CSV_COLUMNS
    assert len(rows) - 1 == results["filtered_hits"]
    # binary formats by signed URL
    magic = {"fits": b"SIMPLE  =", "waterfall": b"\x89PNG", "waterfall_thumb": b"\x89PNG"}
    for fmt, head in magic.items():
        info = get(env, "fred", path, format=fmt).json()
        body = requests.get(info["download_url"], timeout=30).content
        assert body.startswith(head), fmt
    nb = json.load(io.BytesIO(requests.get(
        get(env, "fred", path, format="notebook").json()["download_url"], timeout=30).content))
    assert nb["nbformat"] == 4 and nb["cells"]
    for fmt in ("catalog_json", "classified", "dat"):
        info = get(env, "fred", path, format=fmt).json()
        assert requests.get(info["download_url"], timeout=30).status_code == 200, fmt
    # a signed URL is bound to its key: tampering is refused
    url = get(env, "fred", path, format="fits").json()["download_url"]
    assert requests.get(url.replace("catalog.fits", "results.json"),
                        timeout=30).status_code == 403
