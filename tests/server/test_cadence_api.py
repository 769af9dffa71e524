"""Cadence jobs through the real REST service, end to end: an ABACAD cadence built with the
generator is uploaded, submitted as ONE job (``cadence``, ``filter_level``), run by the
executor through notebooks/cadence.ipynb, and its results and downloads are checked
against the injected truth. Also: request validation (400 naming the parameter, in step
with /openapi.json), ownership (404), size (413), quotas (each file counts against the
month, the job once against concurrency) and mismatched files (a failed job, not a 500)."""
from __future__ import annotations

import csv
import io
import json
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_jobs_harness as H  # noqa: E402

from mitraseti.io import read_observation, write_fil  # noqa: E402
from mitraseti.synth import NarrowbandSignal, NoiseModel, make_cadence  # noqa: E402
from mitraseti_server.auth.keys import create_api_key  # noqa: E402
from mitraseti_server.config import default_tiers  # noqa: E402

GRID = dict(n_spectra=16, n_chans=1024, df_hz=2.7939677238464355, dt_s=18.253611008,
            fch1_mhz=8421.0, noise=NoiseModel(kind="chi2", dof=32))
ET, RFI_ALL, RFI_OFF = 0, 1, 2          # signal indices
DRIFT_RES = 2.7939677238464355 / (15 * 18.253611008)      # r = df / ((T - 1) dt), Hz/s
SEEN_IN_OFF = "cadence: seen in OFF"
CONFIG = """
[executor]
kernel_pool_size = 0
"""


def make_abacad(folder: Path, seed: int = 11):
    """ABACAD cadence: an ON-only drifting tone (the ET signal), a tone in all six files
    and a tone in the OFF files only (both RFI), 350 channels apart (more than the search's
    top-hit window at max_drift 1 Hz/s). Returns (paths, SyntheticCadence)."""
    signals = [NarrowbandSignal(channel=150.0, drift_rate=0.1, snr=60.0, width=2.0),
               NarrowbandSignal(channel=500.0, drift_rate=-0.05, snr=60.0, width=2.0),
               NarrowbandSignal(channel=850.0, drift_rate=0.2, snr=60.0, width=2.0)]
    cad = make_cadence(signals, presence=["on", "all", "off"], seed=seed, **GRID)
    return cad.write(folder, stem="abacad"), cad


def truth(cad, file_index: int, signal: int):
    return next(t for t in cad.observations[file_index].truth if t.index == signal)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """One cadence job run to completion on a real server subprocess."""
    tmp = tmp_path_factory.mktemp("cadence_e2e")
    server = H.LiveServer(tmp / "data", CONFIG).start()
    try:
        rita = server.user("rita", "researcher")
        paths, cad = make_abacad(tmp / "files")
        keys = [H.upload(server, rita["headers"], p) for p in paths]
        used = requests.get(server.url + "/usage", headers=rita["headers"]).json()
        r = requests.post(server.url + "/analyze", headers=rita["headers"], timeout=30,
                          json={"file_key": keys[0], "cadence": keys, "filter_level": 3,
                                "max_drift": 1.0, "source_name": "SYNTH_TARGET"})
        assert r.status_code == 202, r.text
        job = H.wait_job(server, rita["headers"], r.json()["job_id"], timeout=300,
                         exports=True)
        yield {"server": server, "rita": rita, "paths": paths, "cad": cad, "keys": keys,
               "job": job, "used_before": used["usage_this_month"], "tmp": tmp}
    finally:
        server.stop()


def download(e2e, fmt: str) -> requests.Response:
    r = requests.get(f"{e2e['server'].url}/jobs/{e2e['job']['job_id']}/download",
                     headers=e2e["rita"]["headers"], params={"format": fmt}, timeout=30)
    assert r.status_code == 200, (fmt, r.text)
    return r


def signed(e2e, fmt: str) -> bytes:
    info = download(e2e, fmt).json()
    assert info["format"] == fmt
    got = requests.get(info["download_url"], timeout=30)
    assert got.status_code == 200, fmt
    return got.content


def test_cadence_job_finds_the_candidate_et_event(e2e):
    job, cad = e2e["job"], e2e["cad"]
    assert job["status"] == "complete", job.get("error")
    assert job["cadence"] == e2e["keys"] and job["filter_level"] == 3
    assert job["filename"] == e2e["paths"][0].name
    assert job["file_size"] == sum(p.stat().st_size for p in e2e["paths"])
    res = job["results"]
    assert res["raw_hits"] >= res["filtered_hits"] >= res["candidates"] >= 3
    assert res["events"] == len(res["top_events"]) == 1
    event = res["top_events"][0]
    et = truth(cad, 0, ET)
    window = 4 * GRID["df_hz"]
    assert event["classification"] == "CANDIDATE_ET" and event["filter_level"] == 3
    assert abs(event["frequency_hz"] - et.frequency_hz) <= window
    assert event["drift_rate"] == pytest.approx(0.1, abs=2 * DRIFT_RES)
    on = event["on_hits"]
    assert [m["file"] for m in on] == [e2e["paths"][k].name for k in (0, 2, 4)]
    for k, m in zip((0, 2, 4), on):          # found in every ON file where it was injected
        assert abs(m["frequency_hz"] - truth(cad, k, ET).frequency_hz) <= window
        assert m["snr"] > 10 and m["classification"] == "CANDIDATE_ET"
    # no event sits on either RFI tone
    for sig in (RFI_ALL, RFI_OFF):
        for k in range(6):
            t = [x for x in cad.observations[k].truth if x.index == sig]
            assert all(abs(event["frequency_hz"] - x.frequency_hz) > 100 for x in t)
    usage = requests.get(e2e["server"].url + "/usage", headers=e2e["rita"]["headers"]).json()
    assert usage["usage_this_month"] == e2e["used_before"] + 6      # one per file


def test_every_file_keeps_its_own_labels(e2e):
    doc = json.loads(signed(e2e, "json"))
    cad = e2e["cad"]
    assert [f["role"] for f in doc["files"]] == ["ON", "OFF"] * 3
    assert [f["file"] for f in doc["files"]] == [p.name for p in e2e["paths"]]
    assert doc["summary"]["events"] == 1
    assert sum(len(f["signals"]) for f in doc["files"]) == e2e["job"]["results"][
        "filtered_hits"]

    def near(f, k, sig, window):
        t = truth(cad, k, sig)
        return [s for s in f["signals"] if abs(s["frequency_hz"] - t.frequency_hz) <= window]

    rfi_seen = 0
    for k, f in enumerate(doc["files"]):
        if k % 2:        # OFF: every signal is interference seen off source (or noise)
            assert f["signals"], k
            assert all(s["classification"] == "NOISE" or (
                s["classification"] == "RFI_TERRESTRIAL" and s["rfi_source"] == SEEN_IN_OFF)
                for s in f["signals"]), (k, f["signals"])
            continue
        et = near(f, k, ET, 4 * GRID["df_hz"])
        assert [s["classification"] for s in et] == ["CANDIDATE_ET"], (k, et)
        rfi = near(f, k, RFI_ALL, 20 * GRID["df_hz"])
        assert all(s["classification"] == "RFI_TERRESTRIAL" and s["rfi_source"] ==
                   SEEN_IN_OFF for s in rfi), (k, rfi)
        rfi_seen += len(rfi)
    assert rfi_seen >= 2                     # the tone in every file was found on source


def test_download_formats_open(e2e):
    job = e2e["job"]
    events = download(e2e, "events")
    assert events.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(events.text)))
    assert len(rows) == job["results"]["events"]
    assert rows[0]["classification"] == "CANDIDATE_ET" and rows[0]["png"]
    assert len(rows[0]["snr_per_on"].split(";")) == 3
    with zipfile.ZipFile(io.BytesIO(signed(e2e, "events_png"))) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == [r["png"] for r in rows]
        png = zf.read(rows[0]["png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    signals = list(csv.DictReader(io.StringIO(download(e2e, "csv").text)))
    assert len(signals) == job["results"]["filtered_hits"]
    assert {r["file"] for r in signals} <= {p.name for p in e2e["paths"]}
    assert {r["role"] for r in signals} == {"ON", "OFF"}
    report = json.loads(signed(e2e, "notebook"))
    assert report["nbformat"] == 4
    params = report["metadata"]["papermill"]["parameters"]
    assert len(params["input_paths"]) == 6 and params["filter_level"] == 3
    # single-file formats a cadence job does not produce: 404 naming the format
    r = requests.get(f"{e2e['server'].url}/jobs/{job['job_id']}/download",
                     headers=e2e["rita"]["headers"], params={"format": "fits"}, timeout=30)
    assert r.status_code == 404 and r.json()["format"] == "fits"


def test_mismatched_files_fail_the_job_with_a_clear_error(e2e):
    server, rita, paths = e2e["server"], e2e["rita"], e2e["paths"]
    hdr, data = read_observation(paths[3])
    hdr.fch1 += 0.5
    shifted = e2e["tmp"] / "shifted_OFF.fil"
    write_fil(shifted, hdr, data)
    keys = [H.upload(server, rita["headers"], p) for p in [*paths[:3], shifted, *paths[4:]]]
    r = requests.post(server.url + "/analyze", headers=rita["headers"], timeout=30,
                      json={"file_key": keys[0], "cadence": keys})
    assert r.status_code == 202, r.text
    job = H.wait_job(server, rita["headers"], r.json()["job_id"], timeout=120)
    assert job["status"] == "failed" and "results" not in job
    assert job["error"].startswith("CadenceError"), job["error"]
    assert "shifted_OFF.fil" in job["error"] and "fch1" in job["error"]


# ---- requests that never run a job (a paused server: max_workers = 0) ------------------
@pytest.fixture
def paused(start_server, tmp_path):
    tiers = default_tiers()
    tiers["researcher"].files_per_month = 12
    tiers["researcher"].concurrent_jobs = 2
    tiers["free"].max_file_mb = 1
    server = start_server(max_workers=0, tiers=tiers)
    store = server.services.store

    def account(name):
        user = store.create_user(name, "researcher")
        return user, {"x-api-key": create_api_key(store, user.user_id).api_key}

    paths, _ = make_abacad(tmp_path / "files", seed=3)
    return {"server": server, "account": account, "paths": paths, "tmp": tmp_path}


def post(server, headers, body):
    return requests.post(server.url + "/analyze", headers=headers, json=body, timeout=30)


def analyze_schema(server):
    spec = requests.get(server.url + "/openapi.json", timeout=30).json()
    return {"$ref": "#/components/schemas/AnalyzeRequest", "components": spec["components"]}


def test_bad_cadence_requests_answer_400_naming_the_parameter(paused):
    server = paused["server"]
    _, h = paused["account"]("vera")
    keys = [H.upload(server, h, p) for p in paused["paths"]]
    schema = analyze_schema(server)
    good = {"file_key": keys[0], "cadence": keys, "filter_level": 2}
    jsonschema.validate(good, schema)
    schema_rejects = [
        ({"cadence": keys[0]}, "cadence"), ({"cadence": keys[:2]}, "cadence"),
        ({"cadence": [keys[0], 7, *keys[2:]]}, "cadence"),
        ({"cadence": [keys[0], "", *keys[2:]]}, "cadence"),
        ({"cadence": [keys[0], keys[1], keys[0], keys[1]]}, "cadence"),
        ({"cadence": keys * 4}, "cadence"),
        ({"filter_level": 0}, "filter_level"), ({"filter_level": 4}, "filter_level"),
        ({"filter_level": "3"}, "filter_level"), ({"filter_level": 2.5}, "filter_level"),
        ({"cadence_files": keys}, None)]
    for change, name in schema_rejects:
        body = {**good, **change}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(body, schema)
        r = post(server, h, body)
        assert r.status_code == 400, (change, r.text)
        if name is None:
            assert r.json()["parameter"] == "cadence_files", r.json()
            assert r.json()["error"] == "Unknown field: cadence_files", r.json()
        else:
            assert r.json()["parameter"] == name and name in r.json()["error"], r.json()
    # rules the schema cannot express, checked by the service
    for change, name in (({"cadence": keys[:5]}, "cadence"),            # odd: no alternation
                         ({"file_key": keys[1]}, "file_key"),           # not cadence[0]
                         ({"cadence": None, "filter_level": 2}, "filter_level")):
        body = {k: v for k, v in {**good, **change}.items() if v is not None}
        r = post(server, h, body)
        assert r.status_code == 400, (change, r.text)
        assert r.json()["parameter"] == name, r.json()
    assert requests.get(server.url + "/jobs", headers=h).json() == []


def test_cadence_files_must_be_the_callers_and_within_the_tier(paused):
    server = paused["server"]
    _, h = paused["account"]("wes")
    _, other = paused["account"]("xia")
    keys = [H.upload(server, h, p) for p in paused["paths"]]
    foreign = H.upload(server, other, paused["paths"][3])
    r = post(server, h, {"file_key": keys[0], "cadence": [*keys[:3], foreign, *keys[4:]]})
    assert r.status_code == 404 and r.json()["file_key"] == foreign
    assert r.json()["error"].startswith("File not found")
    missing = keys[0].rsplit("/", 2)[0] + "/nope/x.fil"
    r = post(server, h, {"file_key": keys[0], "cadence": [*keys[:5], missing]})
    assert r.status_code == 404 and r.json()["file_key"] == missing
    r = requests.post(server.url + "/analyze", json={"file_key": keys[0], "cadence": keys})
    assert r.status_code == 403
    # one file over the tier's size: 413 naming it
    big = H.write_observation(paused["tmp"] / "big.fil", nchans=1 << 15)   # 2 MB > 1 MB
    user, hz = paused["account"]("zoe")
    small = [H.upload(server, hz, p) for p in paused["paths"][:4]]
    big_key = H.upload(server, hz, big)
    server.services.store.set_tier("zoe", "free")                # downgraded since
    from mitraseti_server.auth.tokens import issue_token
    bearer = {"Authorization": f"Bearer {issue_token(server.config, user)}"}
    r = post(server, bearer, {"file_key": small[0], "cadence": [*small[:3], big_key]})
    assert r.status_code == 413
    assert r.json() == {"error": "File exceeds tier size limit", "file_size":
                        big.stat().st_size, "max_size_mb": 1, "tier": "free",
                        "file_key": big_key}


def test_each_file_counts_against_the_month_the_job_once_against_concurrency(paused):
    server = paused["server"]
    _, h = paused["account"]("yan")          # 12 files a month, 2 concurrent jobs
    keys = [H.upload(server, h, p) for p in paused["paths"]]
    six = post(server, h, {"file_key": keys[0], "cadence": keys})
    assert six.status_code == 202, six.text
    four = post(server, h, {"file_key": keys[0], "cadence": keys[:4], "filter_level": 1})
    assert four.status_code == 202, four.text
    assert requests.get(server.url + "/usage", headers=h).json()["usage_this_month"] == 10
    r = post(server, h, {"file_key": keys[0], "cadence": keys[:4]})
    assert r.status_code == 429
    assert {k: r.json()[k] for k in ("error", "limit", "used", "requested")} == {
        "error": "Monthly limit reached", "limit": 12, "used": 10, "requested": 4}
    r = post(server, h, {"file_key": keys[0]})        # 11 <= 12 files, but 2 jobs run
    assert r.status_code == 429 and r.json()["error"] == "Too many concurrent jobs"
    assert r.json()["running"] == 2
    job = requests.get(f"{server.url}/jobs/{four.json()['job_id']}", headers=h).json()
    assert job["status"] == "submitted" and job["cadence"] == keys[:4]
    assert job["filter_level"] == 1
    spec = requests.get(server.url + "/openapi.json", timeout=30).json()
    jsonschema.validate(job, {"$ref": "#/components/schemas/Job",
                              "components": spec["components"]})


def test_retention_keeps_every_file_of_a_queued_cadence_job(tmp_path):
    """The sweeper spares the uploads a queued job reads: all of a cadence's files."""
    import time

    from mitraseti_server.app import build_services
    from mitraseti_server.config import ServiceConfig

    services = build_services(ServiceConfig.load(data_dir=tmp_path / "data", env={}))
    user = services.store.create_user("una", "free")               # 7 days retention
    now = time.time()
    keys = []
    for k in range(5):
        key = f"uploads/{user.user_id}/u{k}/f{k}.fil"
        services.store.add_upload(upload_id=f"up-{k}", file_key=key, user_id=user.user_id,
                                  filename=f"f{k}.fil", size=3, multipart=False, parts=1,
                                  now=now - 20 * 86400)
        services.blobs.put_bytes(key, b"fil")
        assert services.store.finish_upload(f"up-{k}", "complete", now - 20 * 86400)
        keys.append(key)
    services.job_store.submit(
        user_id=user.user_id, tier=user.tier, monthly_limit=100, concurrent_limit=5,
        file_key=keys[0], filename="f0.fil", source_name="x", file_size=12,
        params={"cadence": keys[:4], "filter_level": 3}, now=now, files=4)
    assert services.job_store.usage_this_month(user.user_id, now) == 4
    services.sweeper.sweep_once(now=now)
    assert [services.blobs.exists(k) for k in keys] == [True] * 4 + [False]


def test_runner_accepts_a_list_of_file_paths_only():
    from mitraseti_server.jobs.runner import typed_params
    assert typed_params({"input_paths": ["a.fil", "b.fil"], "filter_level": 2}) == {
        "input_paths": ["a.fil", "b.fil"], "filter_level": 2}
    with pytest.raises(TypeError, match="'input_paths'"):
        typed_params({"input_paths": ["a.fil", 3]})
