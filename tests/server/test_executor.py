"""The local executor with real parts (SQLite file, blob files, spawned runner processes):
whole-job timeout kills the process group, the concurrency limit queues jobs, restart
reconciliation re-queues once then fails with "interrupted", and the runner's error and
parameter handling."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from waiting import wait_for  # noqa: E402
import test_jobs_harness as H  # noqa: E402

from mitraseti_server.jobs import store as js  # noqa: E402
from mitraseti_server.jobs.executor import is_runner_of  # noqa: E402
from mitraseti_server.jobs.runner import one_line_error, typed_params  # noqa: E402


def make_services(tmp_path: Path, **overrides):
    from mitraseti_server.app import build_services
    from mitraseti_server.config import ServiceConfig
    cfg = ServiceConfig.load(data_dir=tmp_path / "data", env={}, **overrides)
    return build_services(cfg)


def submit(services, user, path: Path, **kw) -> js.Job:
    key = f"uploads/{user.user_id}/{os.urandom(4).hex()}/{path.name}"
    services.blobs.put_file(key, path)
    return services.job_store.submit(
        user_id=user.user_id, tier=user.tier, monthly_limit=100, concurrent_limit=5,
        file_key=key, filename=path.name, source_name=path.stem,
        file_size=path.stat().st_size, params={"max_drift": 2.0}, **kw)


def test_timeout_kills_process_group_and_queue_respects_max_workers(tmp_path, monkeypatch):
    # every job outlives the timeout: a real pipeline job on a warm spare can finish in
    # less than 1.5 s
    from test_kernel_pool import write_notebook
    notebook = write_notebook(tmp_path / "sleepy.ipynb", "import time\ntime.sleep(3600)")
    monkeypatch.setenv("MITRASETI_PIPELINE_NOTEBOOK", str(notebook))
    services = make_services(tmp_path, job_timeout_s=1.5, max_workers=1)
    user = services.store.create_user("timer", "researcher")
    obs = H.write_observation(tmp_path / "obs.fil")
    jobs = [submit(services, user, obs) for _ in range(2)]
    ex = services.executor
    ex.start()
    try:
        seen_pids, max_processing = set(), 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = [services.job_store.get(j.job_id) for j in jobs]
            processing = [r for r in rows if r.status == js.PROCESSING]
            max_processing = max(max_processing, len(processing))
            seen_pids.update(r.pid for r in processing if r.pid)
            if all(r.status in js.FINISHED for r in rows):
                break
            time.sleep(0.05)
        rows = [services.job_store.get(j.job_id) for j in jobs]
    finally:
        ex.stop()
    assert [r.status for r in rows] == [js.FAILED, js.FAILED]
    assert all(r.error == "timed out after 1.5 s" for r in rows), [r.error for r in rows]
    assert max_processing == 1                       # max_workers=1: the second waited
    assert rows[1].started_at >= rows[0].completed_at
    assert len(seen_pids) == 2
    for pid in seen_pids:            # the runner and its kernel (its process group) are gone
        assert not is_runner_of(pid, rows[0].job_id) and not is_runner_of(pid, rows[1].job_id)
        wait_for(lambda: not live_group_members(pid), timeout=10)


def live_group_members(pgid: int) -> list[int]:
    """Pids of non-zombie processes in process group ``pgid`` (Linux /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def test_reconcile_requeues_once_then_fails_interrupted(tmp_path):
    services = make_services(tmp_path)
    user = services.store.create_user("crash", "researcher")
    obs = H.write_observation(tmp_path / "obs.fil", nchans=64)
    first, second, queued = (submit(services, user, obs) for _ in range(3))
    jobs = services.job_store
    for job, attempts in ((first, 1), (second, 2)):
        jobs.update(job.job_id, status=js.PROCESSING, attempts=attempts, pid=None,
                    started_at=int(time.time()))
    services.executor.reconcile()
    assert jobs.get(first.job_id).status == js.SUBMITTED      # re-queued for its 2nd try
    assert jobs.get(first.job_id).attempts == 1
    failed = jobs.get(second.job_id)
    assert (failed.status, failed.error) == (js.FAILED, "interrupted")
    assert failed.completed_at is not None
    assert jobs.get(queued.job_id).status == js.SUBMITTED     # untouched


def test_runner_reports_malformed_file_as_one_line_error(tmp_path):
    """The runner itself (as the executor spawns it) on a file that is not a filterbank."""
    import subprocess
    bad = tmp_path / "garbage.fil"
    bad.write_bytes(b"this is not a SIGPROC header" * 10)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "mitraseti_server.jobs.runner", "--input", str(bad),
         "--out-dir", str(out), "--params", json.dumps({"max_drift": 2.0})],
        capture_output=True, timeout=300)
    assert proc.returncode == 1, proc.stderr.decode()[-2000:]
    result = json.loads((out / "_runner.json").read_text())
    assert result["ok"] is False
    assert "\n" not in result["error"]
    assert "ObservationFormatError" in result["error"], result["error"]
    assert "garbage.fil" in result["error"]


def test_runner_parameters_must_be_typed():
    assert typed_params({"snr": 10, "max_drift": 2.5, "source_name": "x", "n": None}) == {
        "snr": 10, "max_drift": 2.5, "source_name": "x"}
    with pytest.raises(TypeError, match="'bad'"):
        typed_params({"bad": [1, 2]})
    with pytest.raises(TypeError, match="'flag'"):
        typed_params({"flag": True})


def test_one_line_error_uses_notebook_exception_name():
    from papermill.exceptions import PapermillExecutionError

    error = PapermillExecutionError(cell_index=3, exec_count=3, source="run()",
                                    ename="ObservationFormatError",
                                    evalue="x.fil: bad header\n  at byte 4", traceback=[])
    assert one_line_error(error) == "ObservationFormatError: x.fil: bad header at byte 4"
    assert one_line_error(ValueError("plain")) == "ValueError: plain"
