"""The reference's Quick Start (bash + curl) and Python example, verbatim except for the
API URL and key, run end to end against the real local server: small single-PUT uploads
and a > 50 MB multipart upload, polling to ``complete`` and downloading the results.

The scripts below are the appendix of API-REFERENCE.md; when that file is present the test
also checks that these copies have not drifted from it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_jobs_harness as H  # noqa: E402

REFERENCE = H.REPO / ".." / "shared" / "API-REFERENCE.md"
ORIGINAL_API = "https://api-dev.deepfieldlabs.dev"
ORIGINAL_KEY = "sk_live_xxxxxxxxxxxx"

QUICK_START = r'''# Set your API key
API_KEY="sk_live_xxxxxxxxxxxx"
API="https://api-dev.deepfieldlabs.dev"
AUTH="-H x-api-key:$API_KEY"

# 1. Get presigned upload URL
UPLOAD=$(curl -s -X POST "$API/upload-url" $AUTH \
  -H "Content-Type: application/json" \
  -d '{"filename":"observation.fil","file_size":46000000}')
UPLOAD_URL=$(echo $UPLOAD | python3 -c "import sys,json; print(json.load(sys.stdin)['upload_url'])")
FILE_KEY=$(echo $UPLOAD | python3 -c "import sys,json; print(json.load(sys.stdin)['file_key'])")

# 2. Upload file to S3
curl -X PUT "$UPLOAD_URL" -H "Content-Type: application/octet-stream" \
  --data-binary @observation.fil

# 3. Submit for analysis
JOB=$(curl -s -X POST "$API/analyze" $AUTH \
  -H "Content-Type: application/json" \
  -d "{\"file_key\":\"$FILE_KEY\",\"filename\":\"observation.fil\"}")
JOB_ID=$(echo $JOB | python3 -c "import sys,json; print(json.load(sys.stdin)['job_id'])")
echo "Job submitted: $JOB_ID"

# 4. Poll for completion
while true; do
  STATUS=$(curl -s "$API/jobs/$JOB_ID" $AUTH | python3 -c \
    "import sys,json; print(json.load(sys.stdin)['status'])")
  echo "Status: $STATUS"
  [ "$STATUS" = "complete" ] || [ "$STATUS" = "failed" ] && break
  sleep 10
done

# 5. Download results
curl -s "$API/jobs/$JOB_ID/download?format=json" $AUTH | python3 -c \
  "import sys,json; print(json.load(sys.stdin)['download_url'])"
'''

PYTHON_EXAMPLE = r'''import requests
import time
import os

API = "https://api-dev.deepfieldlabs.dev"
API_KEY = "sk_live_xxxxxxxxxxxx"
HEADERS = {"x-api-key": API_KEY, "Content-Type": "application/json"}
AUTH = {"x-api-key": API_KEY}
FILE_PATH = "observation.fil"
file_size = os.path.getsize(FILE_PATH)

# 1. Get upload URL
resp = requests.post(f"{API}/upload-url",
                     json={"filename": os.path.basename(FILE_PATH), "file_size": file_size},
                     headers=HEADERS)
upload = resp.json()
file_key = upload["file_key"]

# 2. Upload file
if upload.get("multipart"):
    # Multipart upload for large files
    parts = []
    with open(FILE_PATH, "rb") as f:
        for part in upload["parts"]:
            chunk = f.read(upload["part_size"])
            r = requests.put(part["url"], data=chunk)
            parts.append({"partNumber": part["partNumber"], "etag": r.headers["ETag"]})
    requests.post(f"{API}/complete-upload",
                  json={"file_key": file_key, "upload_id": upload["upload_id"], "parts": parts},
                  headers=HEADERS)
    print("Multipart upload complete")
else:
    # Single upload for small files
    with open(FILE_PATH, "rb") as f:
        requests.put(upload["upload_url"], data=f,
                     headers={"Content-Type": "application/octet-stream"})
    print("Upload complete")

# 3. Start analysis
resp = requests.post(f"{API}/analyze",
                     json={"file_key": file_key, "filename": os.path.basename(FILE_PATH)},
                     headers=HEADERS)
job_id = resp.json()["job_id"]
print(f"Job submitted: {job_id}")

# 4. Poll for results (recommended: 10-second intervals)
while True:
    status = requests.get(f"{API}/jobs/{job_id}", headers=AUTH).json()
    print(f"  Status: {status['status']}")
    if status["status"] in ("complete", "failed"):
        break
    time.sleep(10)

# 5. Process results
if status["status"] == "complete":
    results = status["results"]
    print(f"\nResults: {results['raw_hits']} raw hits, "
          f"{results.get('filtered_hits', 0)} filtered, "
          f"{results.get('candidates', 0)} candidates")
    print(f"Processing time: {results.get('processing_time_seconds', 0):.1f}s")
    for c in results.get("top_candidates", [])[:5]:
        freq_mhz = c["frequency_hz"] / 1e6
        print(f"  {freq_mhz:.3f} MHz | SNR={c['snr']:.1f} | {c['classification']}")

    # 6. Download results (wait for exports to be generated)
    time.sleep(15)
    for fmt in ["json", "csv", "fits", "waterfall"]:
        resp = requests.get(f"{API}/jobs/{job_id}/download?format={fmt}", headers=AUTH)
        if fmt == "csv":
            # CSV is returned inline
            with open(f"{job_id[:8]}_signals.csv", "w") as f:
                f.write(resp.text)
            print(f"  Saved {fmt}: {job_id[:8]}_signals.csv")
        else:
            data = resp.json()
            if "download_url" in data:
                content = requests.get(data["download_url"])
                ext = {"json": "json", "fits": "fits", "waterfall": "png"}[fmt]
                filename = f"{job_id[:8]}.{ext}"
                with open(filename, "wb") as f:
                    f.write(content.content)
                print(f"  Saved {fmt}: {filename}")
else:
    print(f"Job failed: {status.get('error', 'Unknown error')}")
'''


def localise(script: str, api: str, key: str) -> str:
    assert script.count(ORIGINAL_API) == 1 and script.count(ORIGINAL_KEY) == 1
    return script.replace(ORIGINAL_API, api).replace(ORIGINAL_KEY, key)


def test_scripts_match_the_reference():
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} not present")
    appendix = REFERENCE.read_text().split("## Appendix", 1)[1]
    blocks = dict(re.findall(r"```(bash|python)\n(.*?)```", appendix, re.S))
    assert blocks["bash"] == QUICK_START
    assert blocks["python"] == PYTHON_EXAMPLE


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The service on its embedded defaults (SQLite, local files, local jobs); the same
    scripts run on PostgreSQL, S3 and Dask together in test_scale_out.py."""
    srv = H.LiveServer(tmp_path_factory.mktemp("quickstart") / "data").start()
    yield srv
    srv.stop()


def start_script(cmd: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               PYTHONUNBUFFERED="1")
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_quick_start_and_python_example_end_to_end(server, tmp_path):
    """Two users run the scripts at the same time: the bash Quick Start on a small file
    (single signed PUT) and the Python example on a 54.5 MB file (multipart upload, six
    10 MB parts). (The client tests cover the single-PUT path from Python.)"""
    runs = {}
    for name, script, large in (("bash_small", QUICK_START, False),
                                ("python_multipart", PYTHON_EXAMPLE, True)):
        cwd = tmp_path / name
        cwd.mkdir()
        if large:
            H.write_large_observation(cwd / "observation.fil")
        else:
            H.write_observation(cwd / "observation.fil", nchans=1024)
        key = server.user(name, "researcher")["api_key"]
        text = localise(script, server.url, key)
        if name.startswith("bash"):
            (cwd / "quickstart.sh").write_text(text)
            cmd = ["bash", "quickstart.sh"]
        else:
            (cwd / "example.py").write_text(text)
            cmd = [sys.executable, "example.py"]
        runs[name] = (cwd, start_script(cmd, cwd))
    outputs = {}
    for name, (cwd, proc) in runs.items():
        out, _ = proc.communicate(timeout=400)
        outputs[name] = out
        assert proc.returncode == 0, f"{name} failed:\n{out}\n{server.log()}"

    # bash: submitted, polled to complete, printed a signed download URL that works
    out = outputs["bash_small"]
    assert "Job submitted: " in out and "Status: complete" in out, out
    url = out.strip().splitlines()[-1]
    assert url.startswith(server.url + "/blobs/jobs/"), out
    doc = requests.get(url, timeout=30).json()
    assert {"raw_hits", "filtered_hits", "candidates"} <= set(doc)

    # Python: multipart upload, polled to complete, saved json / csv / fits / png
    out, cwd = outputs["python_multipart"], runs["python_multipart"][0]
    assert "Multipart upload complete" in out, out
    assert "Status: complete" in out and "Results: " in out, out
    job_id = re.search(r"Job submitted: (\S+)", out).group(1)
    stem = job_id[:8]
    results = json.loads((cwd / f"{stem}.json").read_text())
    assert f"Results: {results['raw_hits']} raw hits" in out
    csv_rows = (cwd / f"{stem}_signals.csv").read_text().splitlines()
    assert csv_rows[0].startswith("source_name,frequency_hz,drift_rate,snr,")
    assert len(csv_rows) - 1 == results["filtered_hits"]
    assert (cwd / f"{stem}.fits").read_bytes().startswith(b"SIMPLE  =")
    assert (cwd / f"{stem}.png").read_bytes().startswith(b"\x89PNG")
    # the multipart upload arrived whole: the job saw every byte and every spectrum
    big = cwd / "observation.fil"
    assert server.job_row(job_id)["file_size"] == big.stat().st_size > 50 * 1024 * 1024
    assert (results["header"]["nchans"], results["header"]["n_spectra"]) == (1 << 20, 13)
