"""``Client.analyze_cadence`` and ``mitraseti cadence --remote`` against a real server on
127.0.0.1: an ABAB cadence (four files) uploaded and run as one job, its events
downloaded; the CLI writes what the local command writes; errors exit 2 or 1."""
from __future__ import annotations

import csv
import io
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_jobs_harness as H  # noqa: E402
from test_cadence_api import CONFIG, GRID, truth  # noqa: E402

from mitraseti.cli import main  # noqa: E402
from mitraseti.client import Client, MitraSETIAPIError  # noqa: E402
from mitraseti.synth import NarrowbandSignal, make_cadence  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client_cadence")
    server = H.LiveServer(tmp / "data", CONFIG).start()
    account = server.user("cleo", "researcher")
    cad = make_cadence([NarrowbandSignal(channel=200.0, drift_rate=-0.1, snr=50.0, width=2.0),
                        NarrowbandSignal(channel=700.0, drift_rate=0.05, snr=50.0, width=2.0)],
                       presence=["on", "all"], n_files=4, seed=21, **GRID)
    paths = cad.write(tmp / "abab", stem="abab")
    yield {"server": server, "key": account["api_key"], "paths": paths, "cad": cad,
           "api": Client(server.url, api_key=account["api_key"]), "tmp": tmp}
    server.stop()


def test_analyze_cadence_uploads_and_submits_one_job(live, tmp_path):
    api = live["api"]
    used = api.usage()["usage_this_month"]
    jobs = len(api.jobs())
    started = api.analyze_cadence(live["paths"], filter_level=3, progress=False,
                                  max_drift=1.0)
    assert set(started) == {"job_id", "status", "message", "status_url"}
    job = api.wait(started["job_id"], timeout=300, poll=0.3, progress=False, exports=True)
    assert job["status"] == "complete", job.get("error")
    assert len(api.jobs()) == jobs + 1                            # one job for four files
    assert api.usage()["usage_this_month"] == used + 4
    assert [k.rsplit("/", 1)[1] for k in job["cadence"]] == [p.name for p in live["paths"]]
    events = job["results"]["top_events"]
    assert job["results"]["events"] == len(events) == 1
    assert events[0]["classification"] == "CANDIDATE_ET"
    assert abs(events[0]["frequency_hz"] - truth(live["cad"], 0, 0).frequency_hz) < 12
    assert [m["file"] for m in events[0]["on_hits"]] == [live["paths"][0].name,
                                                         live["paths"][2].name]
    path = api.download(job["job_id"], "events", dest=tmp_path)
    assert path.name == f"{job['job_id'][:8]}_events.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [r["classification"] for r in rows] == ["CANDIDATE_ET"]
    with zipfile.ZipFile(io.BytesIO(api.download(job["job_id"], "events_png"))) as zf:
        assert zf.namelist() == [rows[0]["png"]]


def test_analyze_cadence_errors(live, tmp_path):
    api = live["api"]
    with pytest.raises(FileNotFoundError, match="nope.fil"):
        api.analyze_cadence([*live["paths"][:3], tmp_path / "nope.fil"], progress=False)
    with pytest.raises(MitraSETIAPIError) as err:
        api.analyze_cadence(live["paths"][:3], progress=False)      # odd: no alternation
    assert err.value.status == 400 and err.value.body["parameter"] == "cadence"
    with pytest.raises(MitraSETIAPIError) as err:
        api.analyze_cadence(live["paths"], filter_level=5, progress=False)
    assert err.value.status == 400 and err.value.body["parameter"] == "filter_level"


def test_cli_cadence_remote_writes_the_local_outputs(live, tmp_path, capsys):
    out = tmp_path / "events"
    argv = ["cadence", *map(str, live["paths"]), "--remote", live["server"].url,
            "--api-key", live["key"], "--out", str(out), "--max-drift", "1",
            "--timeout", "300"]
    assert main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "1 event(s) at filter level 3, 1 CANDIDATE_ET" in printed
    rows = list(csv.DictReader(open(out / "cadence_events.csv")))
    assert len(rows) == 1 and (out / rows[0]["png"]).read_bytes()[:4] == b"\x89PNG"
    assert (out / "results.json").stat().st_size > 0
    assert (out / "report.ipynb").stat().st_size > 0


def test_cli_cadence_remote_errors(live, tmp_path, capsys):
    files = [*map(str, live["paths"])]
    base = ["cadence", "--remote", live["server"].url, "--out", str(tmp_path / "o")]
    assert main([*base[:1], files[0], str(tmp_path / "gone.fil"), *files[2:], *base[1:],
                 "--api-key", live["key"]]) == 2
    assert "gone.fil" in capsys.readouterr().err
    assert main([*base[:1], *files, *base[1:], "--api-key", "sk_live_wrong"]) == 2
    assert "HTTP 403" in capsys.readouterr().err
    assert main([*base[:1], *files[:2], *base[1:], "--api-key", live["key"]]) == 2
    err = capsys.readouterr().err
    assert "HTTP 400" in err and "cadence" in err
    assert main([*base[:1], *files, "--remote", "http://127.0.0.1:9", "--out",
                 str(tmp_path / "o"), "--api-key", live["key"]]) == 1
    assert "cannot reach" in capsys.readouterr().err
