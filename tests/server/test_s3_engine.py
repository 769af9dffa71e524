"""S3 as the service's storage engine, against moto's S3 server on loopback: the Quick
Start with real jobs reading their inputs from S3 (single PUT and multipart) and writing
their exports there, every object under the configured prefix, the API's S3 requests
awaited on the server's own IOLoop, credentials and endpoint from the AWS environment
variables, a clear error for a bad storage URL, and the bounded input cache (budget, pins
across threads and processes, one download per key)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from waiting import wait_for  # noqa: E402
import test_jobs_harness as H  # noqa: E402

from mitraseti_server.commands import main as server_main  # noqa: E402
from mitraseti_server.config import ServiceConfig  # noqa: E402
from mitraseti_server.errors import ConfigError  # noqa: E402
from mitraseti_server.storage.input_cache import InputCache  # noqa: E402

MB = 1024 * 1024
KEYS = {"s3_access_key_id": "testing", "s3_secret_access_key": "testing"}



def account(server, name: str = "s3-user") -> tuple[str, dict]:
    from mitraseti_server.auth.keys import create_api_key
    store = server.services.store
    user = store.create_user(name, "researcher")
    return user.user_id, {"x-api-key": create_api_key(store, user.user_id).api_key}


def bucket_keys(server) -> list[str]:
    """Every object key in the server's bucket (listed with S3's own API)."""
    blobs = server.services.blobs
    return [o["Key"] for o in blobs._call("list_objects_v2").get("Contents", [])]


def upload(url: str, headers: dict, path: Path) -> str:
    """The Quick Start's upload: a presigned PUT, or presigned parts + /complete-upload."""
    data = path.read_bytes()
    plan = requests.post(url + "/upload-url", headers=headers,
                         json={"filename": path.name, "file_size": len(data)}).json()
    if not plan["multipart"]:
        assert requests.put(plan["upload_url"], data=data).status_code == 200
        return plan["file_key"]
    size, parts = plan["part_size"], []
    for part in plan["parts"]:
        n = part["partNumber"]
        r = requests.put(part["url"], data=data[(n - 1) * size:n * size])
        assert r.status_code == 200, r.text
        parts.append({"partNumber": n, "etag": r.headers["ETag"]})
    r = requests.post(url + "/complete-upload", headers=headers, json={
        "file_key": plan["file_key"], "upload_id": plan["upload_id"], "parts": parts})
    assert r.status_code == 200, r.text
    return plan["file_key"]


def test_quick_start_and_multipart_jobs_run_on_s3(start_server, s3_endpoint, tmp_path):
    prefix = "team/mitraseti"
    server = start_server(storage=f"s3://engine-jobs/{prefix}", s3_endpoint_url=s3_endpoint,
                          **KEYS, max_workers=2, multipart_threshold_mb=1,
                          part_size=5 * MB, min_part_size=5 * MB)
    user_id, headers = account(server)
    small = H.write_observation(tmp_path / "observation.fil", nchans=1024)
    big = H.write_observation(tmp_path / "big.fil", nchans=1 << 17, seed=3)  # 8 MiB: 2 parts
    assert big.stat().st_size > 5 * MB
    keys = [upload(server.url, headers, small), upload(server.url, headers, big)]
    jobs = []
    for key in keys:
        r = requests.post(server.url + "/analyze", headers=headers,
                          json={"file_key": key, "max_drift": 2.0})
        assert r.status_code == 202, r.text
        jobs.append(r.json()["job_id"])

    def finished():
        rows = [requests.get(f"{server.url}/jobs/{j}", headers=headers).json() for j in jobs]
        return rows if all(r["status"] in ("complete", "failed") for r in rows) and all(
            r.get("exports_ready") for r in rows) else None

    rows = wait_for(finished, timeout=240, every=0.5)
    assert [r["status"] for r in rows] == ["complete", "complete"], rows
    for job_id, path in zip(jobs, (small, big)):
        got = requests.get(f"{server.url}/jobs/{job_id}/download?format=json",
                           headers=headers).json()
        assert "/blobs/" not in got["download_url"]            # presigned by S3 itself
        results = requests.get(got["download_url"])
        assert results.status_code == 200
        assert isinstance(json.loads(results.content), dict)
        fits = requests.get(f"{server.url}/jobs/{job_id}/download?format=fits",
                            headers=headers).json()
        body = requests.get(fits["download_url"]).content
        assert body.startswith(b"SIMPLE  =")                    # a FITS file, from S3
        csv = requests.get(f"{server.url}/jobs/{job_id}/download?format=csv",
                           headers=headers)
        assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")

    listed = bucket_keys(server)
    assert all(k.startswith(prefix + "/") for k in listed), listed
    assert {f"{prefix}/{k}" for k in keys} <= set(listed)
    assert any(k.startswith(f"{prefix}/jobs/{user_id}/{jobs[1]}/") for k in listed)
    # the inputs were read through the input cache, and nothing is pinned any more
    cache = server.services.blobs.cache
    cached = sorted(p.stat().st_size for _, _, p in cache.entries())
    assert cached == sorted([small.stat().st_size, big.stat().st_size])
    cache.budget = 0
    assert cache.prune() == 2 and cache.entries() == []


def settled_sync_calls(blobs, quiet_s: float = 0.5) -> int:
    """``blobs.sync_calls`` once it has not changed for ``quiet_s`` s."""
    last, since = blobs.sync_calls, time.monotonic()
    while time.monotonic() - since < quiet_s:
        time.sleep(0.05)
        if blobs.sync_calls != last:
            last, since = blobs.sync_calls, time.monotonic()
    return last


def test_api_awaits_s3_on_the_server_loop(start_server, s3_endpoint):
    """Every S3 request of the API routes is made by the async client of the server's own
    IOLoop: none by the blocking methods' private-loop client."""
    server = start_server(storage="s3://engine-api/api", s3_endpoint_url=s3_endpoint,
                          **KEYS, max_workers=0, multipart_threshold_mb=1,
                          part_size=5 * MB, min_part_size=5 * MB)
    user_id, headers = account(server)
    blobs = server.services.blobs
    settled_sync_calls(blobs)            # the start-up upload sweep (a blocking caller)
    before = blobs.sync_calls
    url = server.url
    key = upload(url, headers, _bytes_file(b"x" * 1000, "one.h5"))
    big = upload(url, headers, _bytes_file(os.urandom(6 * MB), "two.fil"))
    gone = requests.post(url + "/upload-url", headers=headers,
                         json={"filename": "gone.fil", "file_size": 2 * MB}).json()
    r = requests.post(url + "/abort-upload", headers=headers,
                      json={"file_key": gone["file_key"], "upload_id": gone["upload_id"]})
    assert r.status_code == 200
    r = requests.post(url + "/analyze", headers=headers,
                      json={"file_key": key, "cadence": [key, big, key + "x", big + "x"]})
    assert r.status_code == 404 and r.json()["file_key"] == key + "x"
    r = requests.post(url + "/analyze", headers=headers, json={"file_key": big})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert blobs.sync_calls == before

    # exports as an executor writes them (blocking calls), then fetched through the API
    csv_key = f"jobs/{user_id}/{job_id}/signals.csv"
    blobs.put_bytes(csv_key, b"a,b\n1,2\n")
    server.services.job_store.add_export(job_id, "csv", csv_key)
    server.services.job_store.add_export(job_id, "json", csv_key)
    before = blobs.sync_calls
    r = requests.get(f"{url}/jobs/{job_id}/download?format=csv", headers=headers)
    assert r.status_code == 200 and r.content == b"a,b\n1,2\n"
    signed = requests.get(f"{url}/jobs/{job_id}/download?format=json",
                          headers=headers).json()["download_url"]
    assert requests.get(signed).content == b"a,b\n1,2\n"
    r = requests.get(f"{url}/jobs/{job_id}/download?format=fits", headers=headers)
    assert r.status_code == 404
    assert blobs.sync_calls == before
    assert blobs.client_loops() == [server._loop]
    assert all(k.startswith("api/") for k in bucket_keys(server))


def test_stale_sweep_keeps_presigned_puts_and_aborts_the_rest(start_server, s3_endpoint):
    """A presigned PUT goes straight to S3; its pending row is completed, not aborted."""
    server = start_server(storage="s3://engine-sweep", s3_endpoint_url=s3_endpoint, **KEYS,
                          max_workers=0, multipart_threshold_mb=1)
    _, headers = account(server)
    put = upload(server.url, headers, _bytes_file(b"z" * 10, "kept.h5"))
    never = requests.post(server.url + "/upload-url", headers=headers,
                          json={"filename": "never.h5", "file_size": 10}).json()
    parts = requests.post(server.url + "/upload-url", headers=headers,
                          json={"filename": "parts.fil", "file_size": 3 * MB}).json()
    uploads = server.services.uploads
    later = time.time() + server.services.config.stale_upload_s + 60
    assert uploads.sweep_stale(now=later) == 2
    assert bucket_keys(server) == [put]
    listed = server.services.blobs._call("list_multipart_uploads")
    assert listed.get("Uploads", []) == []
    # a multipart upload the database never recorded (a crash right after starting it)
    blobs = server.services.blobs
    lost = blobs.start_multipart(f"uploads/{account(server, 'crashed')[0]}/u1/lost.fil")
    assert [u["UploadId"] for u in blobs._call("list_multipart_uploads")["Uploads"]] == [lost]
    # (moto dates every multipart upload 2010-11-10, so "not stale yet" cannot be shown
    # here; the cutoff is the same one the row-based sweep above uses)
    assert uploads.sweep_stale(now=later) == 0                # no row to abort, but ...
    assert blobs._call("list_multipart_uploads").get("Uploads", []) == []   # ... swept
    store = server.services.store
    assert store.get_upload(parts["upload_id"])["state"] == "aborted"
    assert store.has_complete_upload(put, store.get_user_by_name("s3-user").user_id)
    assert requests.post(server.url + "/analyze", headers=headers,
                         json={"file_key": never["file_key"]}).status_code == 404


def _bytes_file(data: bytes, name: str) -> Path:
    import tempfile
    path = Path(tempfile.mkdtemp(prefix="s3eng-")) / name
    path.write_bytes(data)
    return path


def test_endpoint_and_credentials_from_the_aws_environment(start_server, s3_endpoint,
                                                           monkeypatch):
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env-secret")
    server = start_server(storage="s3://engine-env", max_workers=0)
    _, headers = account(server)
    key = upload(server.url, headers, _bytes_file(b"y" * 4096, "env.fil"))
    blobs = server.services.blobs
    assert blobs.size(key) == 4096 and blobs.read_bytes(key) == b"y" * 4096
    assert bucket_keys(server) == [key]
    assert requests.get(blobs.signed_url(key)).content == b"y" * 4096


def test_bad_storage_url_is_a_clear_error(tmp_path, capsys):
    for value in ("s3:/bucket", "gs://bucket", "s3://Bad_Bucket", "s3://bucket/a//b", "s3"):
        with pytest.raises(ConfigError) as err:
            ServiceConfig.load(data_dir=tmp_path, env={"MITRASETI_STORAGE": value})
        assert err.value.key in ("storage", "s3_bucket")
        assert "MITRASETI_STORAGE" in str(err.value) or value == "s3"
    (tmp_path / "config.toml").write_text('[storage]\nstorage = "ftp://x"\n')
    with pytest.raises(ConfigError, match=r"config\.toml.*storage"):
        ServiceConfig.load(data_dir=tmp_path, env={})
    (tmp_path / "config.toml").unlink()
    code = server_main(["admin", "create-user", "bob", "--data-dir", str(tmp_path),
                        "--storage", "s3://x"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "storage" in err and "bucket name" in err
    ok = ServiceConfig.load(data_dir=tmp_path, env={"MITRASETI_STORAGE": "s3://b-1/p/q/"})
    assert (ok.storage_target.bucket, ok.storage_target.prefix) == ("b-1", "p/q")


def test_executor_pins_s3_inputs_while_a_job_runs(start_server, s3_endpoint):
    import contextlib

    from mitraseti_server.errors import JobFailed
    server = start_server(storage="s3://engine-pins", s3_endpoint_url=s3_endpoint, **KEYS,
                          max_workers=0, input_cache_gb=0.0)
    services, user = server.services, server.services.store.create_user("pin", "researcher")
    key = f"uploads/{user.user_id}/1/in.fil"
    services.blobs.put_bytes(key, b"f" * 2048)

    def job(file_key):
        return services.job_store.submit(
            user_id=user.user_id, tier="researcher", monthly_limit=10, concurrent_limit=5,
            file_key=file_key, filename="in.fil", source_name="in", file_size=2048,
            params={})

    with contextlib.ExitStack() as pins:
        [path] = services.executor.input_paths(job(key), pins)
        assert Path(path).read_bytes() == b"f" * 2048
        assert Path(path).is_relative_to(services.config.cache_dir)
        assert services.blobs.cache.prune() == 0 and Path(path).is_file()   # budget 0
    assert not Path(path).exists()                  # released, over budget: pruned
    with pytest.raises(JobFailed, match="missing from the blob store"):
        services.executor.input_paths(job(key + ".gone"), contextlib.ExitStack())


def test_local_storage_reads_the_blob_file_itself(tmp_path):
    from mitraseti_server.errors import BlobError
    from mitraseti_server.storage.local import LocalBlobStore
    store = LocalBlobStore(tmp_path / "blobs", b"s" * 32, "http://127.0.0.1:1")
    store.put_bytes("uploads/u/1/a.fil", b"abc")
    with store.open_local("uploads/u/1/a.fil") as path:
        assert path == store.local_path("uploads/u/1/a.fil") and path.read_bytes() == b"abc"
    with pytest.raises(BlobError) as err, store.open_local("uploads/u/1/b.fil"):
        pass
    assert err.value.code == "NoSuchKey"
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == ["multipart", "objects"]


# ---- the input cache ------------------------------------------------------------------
def writer(data: bytes, calls: list | None = None, delay: float = 0.0):
    def fetch(dest: Path) -> None:
        if calls is not None:
            calls.append(threading.get_ident())
        time.sleep(delay)
        dest.write_bytes(data)
    return fetch


def test_input_cache_stays_under_budget_and_keeps_pinned_files(tmp_path):
    cache = InputCache(tmp_path / "cache", budget=250)
    with cache.use("uploads/u/1/a.fil", writer(b"a" * 100)) as a:
        with cache.use("uploads/u/2/b.fil", writer(b"b" * 100)) as b:
            assert a.name == "a.fil" and b.read_bytes() == b"b" * 100
        os.utime(b, (time.time() + 5, time.time() + 5))      # b used after a
        with cache.use("uploads/u/3/c.h5", writer(b"c" * 100)) as c:
            # 300 bytes > 250: the least recently used unpinned copy went (b: a is pinned)
            assert a.is_file() and c.is_file() and not b.exists()
            assert cache.size() <= 250
        assert a.read_bytes() == b"a" * 100
    assert cache.size() <= 250
    # a file larger than the whole budget is served, then pruned once released
    with cache.use("uploads/u/4/huge.fil", writer(b"h" * 400)) as huge:
        assert huge.read_bytes() == b"h" * 400
    assert not huge.exists() and cache.size() <= 250


def test_input_cache_downloads_once_for_concurrent_users(tmp_path):
    cache = InputCache(tmp_path / "cache", budget=10_000)
    calls, seen = [], []
    barrier = threading.Barrier(6)

    def user():
        barrier.wait()
        with cache.use("uploads/u/1/same.fil", writer(b"s" * 500, calls, 0.3)) as p:
            seen.append(p.read_bytes())

    threads = [threading.Thread(target=user) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(calls) == 1 and seen == [b"s" * 500] * 6
    assert not list(cache.objects.rglob("*.part"))


PIN_SCRIPT = """
import sys
from pathlib import Path
from mitraseti_server.storage.input_cache import InputCache
cache = InputCache(sys.argv[1], budget=0)
with cache.use("uploads/u/9/held.fil", lambda p: Path(p).write_bytes(b"p" * 300),
               prune=False) as path:
    print(path, flush=True)
    sys.stdin.readline()
"""


def test_input_cache_pin_holds_across_processes(tmp_path):
    root = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", PIN_SCRIPT, str(root)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        held = Path(proc.stdout.readline().strip())
        cache = InputCache(root, budget=0)
        assert cache.prune() == 0 and held.is_file()       # pinned by the other process
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(30)
        assert cache.prune() == 1 and not held.exists()
    finally:
        proc.kill()
        proc.wait(30)
