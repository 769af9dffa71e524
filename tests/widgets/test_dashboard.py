"""The dashboard's Python side against a real REST service (no browser)."""
from __future__ import annotations

import base64
import time

import pytest
import requests

from mitraseti.client import MitraSETIAPIError
from mitraseti.dashboard import Dashboard, DashboardSession, api_url_from_env
from mitraseti.dashboard import format as fmt
from mitraseti.search.hit import CSV_COLUMNS

from live_service import LiveService, small_observation


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    svc = LiveService(tmp_path_factory.mktemp("dashboard-service")).start()
    svc.api_key = svc.create_user("dash-user")
    yield svc
    svc.stop()


def wait_for(predicate, timeout: float = 180.0, step: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def test_api_url_from_env():
    assert api_url_from_env({}) == "http://127.0.0.1:8000"
    assert api_url_from_env({"MITRASETI_API_URL": "http://h:9/x/"}) == "http://h:9/x"


def test_error_messages_are_readable():
    exc = MitraSETIAPIError(429, "Monthly limit reached",
                            {"error": "Monthly limit reached", "limit": 10, "used": 10})
    assert fmt.error_message(exc, "upload") == \
        "upload failed: HTTP 429: Monthly limit reached (limit: 10, used: 10)"
    page = fmt.error_html(ValueError("<b>bad</b>"))
    assert "&lt;b&gt;bad&lt;/b&gt;" in page and "Traceback" not in page


def test_sign_in_errors_and_success(service, tmp_path):
    d = Dashboard(api_url=service.url, refresh_s=3600, cache_dir=str(tmp_path))
    d.sign_in("sk_live_0123abcd_" + "A" * 43)
    assert "HTTP 403" in d.message.value and "Invalid API key" in d.message.value
    assert d.session is None and d.tabs.layout.display == "none"
    d.sign_in("")
    assert "enter an API key" in d.message.value
    d.sign_in(service.api_key)
    assert d.session is not None and "researcher" in d.signed_in_as.value
    assert "usage-table" in d.usage.value and "500" in d.usage.value
    d.close()


def test_sign_in_with_a_local_token(service, tmp_path):
    d = Dashboard(api_url=service.url, refresh_s=3600, cache_dir=str(tmp_path))
    d.sign_in(service.token("dash-user"))
    assert d.session is not None, d.message.value
    d.close()


def test_api_keys_tab_create_list_revoke(service, tmp_path):
    d = Dashboard(api_url=service.url, credential=service.api_key, refresh_s=3600,
                  cache_dir=str(tmp_path))
    before = len(d.keys_rows.children)
    d.key_name.value, d.key_ttl.value = "from-dashboard", 7
    key = d.create_key()
    assert key["api_key"] in d.new_key.value and "only once" in d.new_key.value
    assert len(d.keys_rows.children) == before + 1
    row_text = " ".join(c.value for c in d.keys_rows.children[-1].children[:-1])
    assert "from-dashboard" in row_text and "active" in row_text and "(7 d)" in row_text
    assert DashboardSession(service.url, key["api_key"]).sign_in()["tier"] == "researcher"
    d.revoke_key(key["key_id"])
    assert key["api_key"] not in d.new_key.value
    row_text = " ".join(c.value for c in d.keys_rows.children[-1].children[:-1])
    assert "revoked" in row_text and d.keys_rows.children[-1].children[-1].disabled
    other = Dashboard(api_url=service.url, refresh_s=3600, cache_dir=str(tmp_path))
    other.sign_in(key["api_key"])
    assert "HTTP 403" in other.message.value and "revoked" in other.message.value
    d.close()
    other.close()


def test_upload_job_table_refresh_and_job_page(service, tmp_path):
    d = Dashboard(api_url=service.url, credential=service.api_key, refresh_s=0.3,
                  cache_dir=str(tmp_path / "cache"))
    try:
        path = small_observation(tmp_path / "dash_obs.fil")
        content = path.read_bytes()
        d.server_path.value = str(path)            # a file on the kernel's machine
        d.source_name.value = "dashboard-test"
        job = d.submit_upload()
        assert job is not None, d.message.value
        assert d.upload_progress.value == 1.0
        assert f"of {fmt.size(len(content))}" in d.upload_status.value
        # the table refreshes by itself (background thread) until the job completes
        wait_for(lambda: any("job-complete" in r._dom_classes
                             for r in d.jobs_rows.children[1:]))
        page = d.open_job(job["job_id"])
        wait_for(lambda: (page.refresh() or True) and page.finished)
        done = d.session.job(job["job_id"])
        assert f">{done['results']['raw_hits']}<" in page.counts.value
        assert "candidates-table" in page.candidates.value
        # the API's top_candidates carry no confidence: the page takes it from results.json
        signal = max(page.results["signals"], key=lambda h: h["snr"])
        assert signal["classification"] == "NARROWBAND_DRIFTING"
        assert f">{signal['confidence']:.2f}<" in page.candidates.value
        assert type(page.explorer).__name__ == "WaterfallExplorer"
        assert len(page.explorer.hits) == done["results"]["filtered_hits"]
        assert all(img.value[:4] == b"\x89PNG" for img in page.stamps_box.children)
        links = d.session.download_links(job["job_id"])
        assert {"json", "csv", "fits", "waterfall"} <= set(links)
        # signed URLs carry an expiry to the second: compare them without their query
        shown = page.downloads.value.replace("&amp;", "&")
        assert all(f"href='{v['url'].split('?', 1)[0]}" in shown
                   for k, v in links.items() if k != "csv")
        csv = base64.b64decode(links["csv"]["url"].split(",", 1)[1]).decode()
        assert csv.splitlines()[0].split(",") == CSV_COLUMNS
        signed = requests.get(links["json"]["url"], timeout=30)
        assert signed.ok and signed.json()["filtered_hits"] == done["results"]["filtered_hits"]
        # an API error on the job page is a readable message
        bad = d.open_job("no-such-job")
        assert "HTTP 404" in bad.message.value
    finally:
        d.close()


def test_upload_rejects_other_files(service, tmp_path):
    d = Dashboard(api_url=service.url, credential=service.api_key, refresh_s=3600,
                  cache_dir=str(tmp_path))
    assert d.submit_upload() is None
    assert "choose a .fil or .h5 file" in d.message.value
    # what the browser reports when the user picks a file (name and size, never the bytes)
    d.browser_upload.set_state({"files": [{"name": "notes.txt", "size": 3}],
                                "file_name": "notes.txt", "file_size": 3, "state": "chosen"})
    assert d.submit_upload() is None
    assert ".fil" in d.message.value and "notes.txt" in d.message.value
    d.close()


def test_browser_upload_plan_and_finish(service, tmp_path):
    """The kernel's side of a browser upload against the real API: the plan covers the file
    with absolute URLs, the pieces PUT as the browser would, and finishing starts the job."""
    d = Dashboard(api_url=service.url, credential=service.api_key, refresh_s=3600,
                  cache_dir=str(tmp_path))
    try:
        assert d.browser_upload.limit_bytes == 1024 * 1024 * 1024   # researcher: 1024 MB
        path = small_observation(tmp_path / "browser_obs.fil")
        content = path.read_bytes()
        plan = d.session.plan_browser_upload(path.name, len(content))
        pieces = plan["pieces"]
        assert sum(p["length"] for p in pieces) == len(content)
        assert all(p["url"].startswith("http://127.0.0.1:") for p in pieces)
        etags = {}
        for piece in pieces:                         # the browser's PUTs
            body = content[piece["offset"]:piece["offset"] + piece["length"]]
            resp = requests.put(piece["url"], data=body, timeout=30,
                                headers={"Content-Type": "application/octet-stream"})
            assert resp.ok, resp.text
            etags[str(piece["partNumber"])] = resp.headers.get("ETag", "")
        d._browser_plan = plan
        job = d._browser_upload_sent([etags])
        assert job is not None, d.message.value
        assert d.browser_upload.state == "done" and job["job_id"] in d.browser_upload.message
        assert d.session.job(job["job_id"])["filename"] == path.name
    finally:
        d.close()
