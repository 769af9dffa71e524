"""mitraseti.client.Client against the live local server: upload (single and multipart),
analyze, wait, download, keys, usage, reports, and MitraSETIAPIError on error answers."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_jobs_harness as H  # noqa: E402
from dbutil import rows  # noqa: E402

from mitraseti.client import Client, JobTimeout, MitraSETIAPIError  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client")
    server = H.LiveServer(tmp / "data").start()
    account = server.user("carla", "researcher")
    yield {"server": server, "tmp": tmp,
           "api": Client(server.url, api_key=account["api_key"]), "account": account}
    server.stop()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def test_client_full_job(live, tmp_path):
    api = live["api"]
    assert api.health()["status"] == "healthy"
    used = api.usage()["usage_this_month"]
    obs = H.write_observation(tmp_path / "voyager_like.fil", nchans=1024)
    key = api.upload(obs, progress=False)
    assert key.endswith("/voyager_like.fil")
    started = api.analyze(key, source_name="VoyagerLike", max_drift=2.0, snr=8)
    assert started["status"] == "submitted"
    with pytest.raises(JobTimeout) as waited:
        api.wait(started["job_id"], timeout=0, progress=False)
    assert waited.value.job["status"] in ("submitted", "processing")
    job = api.wait(started["job_id"], timeout=240, poll=0.5, progress=False, exports=True)
    assert job["status"] == "complete" and job["source_name"] == "VoyagerLike"
    assert api.job(job["job_id"]) == job
    assert api.jobs(limit=1)[0]["job_id"] == job["job_id"]
    assert api.usage()["usage_this_month"] == used + 1

    csv_path = api.download(job["job_id"], "csv", dest=tmp_path)
    assert csv_path.read_text().startswith("source_name,frequency_hz,")
    results = json.loads(api.download(job["job_id"], "json"))
    assert results["raw_hits"] == job["results"]["raw_hits"]
    assert results["source_name"] == "VoyagerLike"
    fits = api.download(job["job_id"], "fits", dest=tmp_path)
    assert fits.name == "catalog.fits" and fits.read_bytes().startswith(b"SIMPLE  =")

    report = api.report(job["job_id"], error_type="user_report", description="looks fine",
                        metadata={"client": "tests"})
    assert report["report_id"].startswith("rpt-")


def test_client_errors_carry_status_and_body(live):
    api = live["api"]
    with pytest.raises(MitraSETIAPIError) as err:
        api.analyze(f"uploads/{live['account']['user'].user_id}/none/x.fil")
    assert err.value.status == 404 and err.value.error.startswith("File not found")
    assert err.value.body["file_key"].endswith("/none/x.fil")
    with pytest.raises(MitraSETIAPIError) as err:
        api.job("00000000-0000-4000-8000-000000000000")
    assert (err.value.status, err.value.error) == (404, "Job not found")
    with pytest.raises(MitraSETIAPIError) as err:
        api.analyze("uploads/x/y/z.fil", max_drift=-2)
    assert err.value.status == 400 and err.value.body["parameter"] == "max_drift"
    with pytest.raises(MitraSETIAPIError) as err:
        api.jobs(limit=500)
    assert err.value.status == 400


def test_client_keys(live):
    api = live["api"]
    new = api.create_key("ci-key", ttl_days=7)
    assert new["api_key"].startswith("sk_live_") and new["ttl_days"] == 7
    assert any(k["key_id"] == new["key_id"] and k["name"] == "ci-key" for k in api.list_keys())
    other = Client(live["server"].url, api_key=new["api_key"])
    assert isinstance(other.jobs(), list)
    assert api.revoke_key(new["key_id"])["key_id"] == new["key_id"]
    with pytest.raises(MitraSETIAPIError) as err:
        other.jobs()
    assert err.value.status == 403


def test_client_multipart_upload_is_byte_exact(live, tmp_path):
    big = H.write_large_observation(tmp_path / "large.fil")
    key = live["api"].upload(big, progress=False)
    stored = live["server"].data_dir / "blobs" / "objects" / key
    assert stored.stat().st_size == big.stat().st_size > 50 * 1024 * 1024
    assert sha256(stored) == sha256(big)
    row, = rows(live["server"].store,
                "SELECT multipart, parts, state FROM uploads WHERE file_key=:k", k=key)
    assert tuple(row.values()) == (1, 6, "complete")


def test_client_imports_no_web_server():
    code = ("import sys, mitraseti.client; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tornado', "
            "'mitraseti_server')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
