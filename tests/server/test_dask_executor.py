"""The Dask executor with real parts: a real server on 127.0.0.1 with ``executor =
"dask-local:2"`` (a LocalCluster) runs a real job on S3 (moto) with progress and downloads,
and a cancel kills the run on its worker; a real external scheduler and worker processes
started with ``dask scheduler`` / ``dask worker`` (``dask_cluster.py``): SIGKILL the
worker running a job and the job completes on the other worker, started exactly twice and
never twice at once, with no runner or kernel of the dead worker left; a job whose worker is
lost twice fails with one clear line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from waiting import alive, wait_for  # noqa: E402
import test_jobs_harness as H  # noqa: E402
from dask_cluster import ExternalCluster, runner_of, worker_of  # noqa: E402

from mitraseti.client import Client  # noqa: E402
from mitraseti_server.auth.keys import create_api_key  # noqa: E402
from mitraseti_server.config import ServiceConfig  # noqa: E402
from mitraseti_server.errors import ConfigError  # noqa: E402
from mitraseti_server.jobs.dask_worker import LOST_TWICE  # noqa: E402
from mitraseti_server.jobs.runner import child_pids  # noqa: E402

TONE_CHANNEL = 5000
NCHANS = 1 << 16


def client_for(server) -> Client:
    store = server.services.store
    user = store.create_user(f"dask-{time.monotonic_ns()}", "researcher")
    return Client(server.url, api_key=create_api_key(store, user.user_id, "t").api_key)


def test_executor_setting_is_checked(tmp_path):
    assert ServiceConfig.load(data_dir=tmp_path, env={}).executor_target.kind == "local"
    env = {"MITRASETI_EXECUTOR": "dask://10.0.0.5:8786"}
    target = ServiceConfig.load(data_dir=tmp_path, env=env).executor_target
    assert (target.kind, target.address) == ("dask", "tcp://10.0.0.5:8786")
    target = ServiceConfig.load(data_dir=tmp_path, env={}, executor="dask-local:3"
                                ).executor_target
    assert (target.kind, target.workers) == ("dask-local", 3)
    for bad in ("dask", "dask://host", "dask-local:0", "spark://h:1"):
        with pytest.raises(ConfigError) as err:
            ServiceConfig.load(data_dir=tmp_path, env={"MITRASETI_EXECUTOR": bad})
        assert err.value.fields["key"] == "executor"


def test_serve_flag_reaches_the_config(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mitraseti_server", "serve", "--executor",
                           "dask://nowhere", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "executor 'dask://nowhere'" in proc.stderr
    admin = subprocess.run([sys.executable, "-m", "mitraseti_server", "admin", "create-user",
                            "ann", "--executor", "dask://nowhere", "--data-dir",
                            str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert admin.returncode == 2 and "executor 'dask://nowhere'" in admin.stderr



def test_local_cluster_runs_a_job_on_s3_with_progress_and_downloads(tmp_path, start_server,
                                                                   s3_endpoint):
    server = start_server(executor="dask-local:2", kernel_pool_size=-1,
                          storage="s3://dask-jobs/run", s3_endpoint_url=s3_endpoint,
                          s3_access_key_id="testing", s3_secret_access_key="testing")
    client = client_for(server)
    obs = H.write_observation(tmp_path / "obs.fil", nchans=NCHANS, tone_channel=TONE_CHANNEL)
    job_id = client.analyze(client.upload(obs, progress=False), max_drift=2.0)["job_id"]
    stages = set()

    def finished():
        job = client.job(job_id)
        stages.add((job.get("progress") or {}).get("stage"))
        return job if job["status"] not in ("submitted", "processing") else None

    job = wait_for(finished, timeout=240, every=0.05)
    assert job["status"] == "complete", job
    assert stages - {None, "starting"}, stages          # the worker's progress came back
    job = client.wait(job_id, timeout=60, poll=0.2, progress=False, exports=True)
    results = json.loads(client.download(job_id, "json"))
    tone_hz = 8419.2e6 + TONE_CHANNEL * 2.7939677     # write_observation's fch1 and foff
    best = max(results["signals"], key=lambda s: s["snr"])
    assert abs(best["frequency_hz"] - tone_hz) < 20 * 2.7939677, best
    report = json.loads(client.download(job_id, "notebook"))
    assert report["metadata"]["mitraseti"]["kernel"]["kernel_id"]   # a worker's warm kernel
    listed = [o["Key"] for o in
              server.services.blobs._call("list_objects_v2").get("Contents", [])]
    assert any(k.startswith("run/jobs/") and k.endswith(f"/{job_id}/report.ipynb")
               for k in listed), listed                 # the workers wrote to S3


def test_cancel_kills_the_run_on_its_worker_and_keeps_the_partial_report(
        tmp_path, start_server, monkeypatch):
    from test_kernel_pool import write_notebook

    sleepy = write_notebook(tmp_path / "sleepy.ipynb", "import time\ntime.sleep(3600)")
    monkeypatch.setenv("MITRASETI_PIPELINE_NOTEBOOK", str(sleepy))   # the workers inherit it
    server = start_server(executor="dask-local:1", kernel_pool_size=0)
    client = client_for(server)
    obs = H.write_observation(tmp_path / "obs.fil")
    job_id = client.analyze(client.upload(obs, progress=False), max_drift=2.0)["job_id"]
    runner = wait_for(lambda: runner_of(job_id), timeout=180, every=0.05)   # a cold runner
    work = Path(os.readlink(f"/proc/{runner}/cwd"))                  # on the worker
    kernel = wait_for(lambda: child_pids(runner), timeout=120)

    def sleeping() -> bool:                  # papermill saved the notebook in the last cell
        for part in work.glob(".report.ipynb.*.part.ipynb"):
            try:
                cell = json.loads(part.read_text())["cells"][-1]
            except (OSError, ValueError):
                continue
            if cell["metadata"].get("papermill", {}).get("status") == "running":
                return True
        return False

    wait_for(sleeping, timeout=120)
    assert client.cancel(job_id)["status"] == "cancelled"
    wait_for(lambda: not any(alive(p) for p in [runner, *kernel]), timeout=30)
    report = wait_for(lambda: server.services.job_store.get(job_id).exports.get("notebook"),
                      timeout=60)
    assert report.endswith(f"/{job_id}/report.ipynb")
    cells = json.loads(client.download(job_id, "notebook"))["cells"]
    assert "time.sleep(3600)" in "".join(cells[-1]["source"])     # stopped in that cell
    assert client.job(job_id)["status"] == "cancelled"


def test_external_cluster_survives_a_lost_worker_and_fails_after_two(tmp_path,
                                                                    start_server):
    cluster = ExternalCluster(tmp_path)
    try:
        address = cluster.start_scheduler()
        for name in ("a", "b"):
            cluster.add_worker(name)
        cluster.wait_for_workers(2)
        server = start_server(executor="dask://" + address.removeprefix("tcp://"),
                              kernel_pool_size=-1)
        client = client_for(server)
        obs = H.write_observation(tmp_path / "obs.fil", nchans=NCHANS)
        key = client.upload(obs, progress=False)

        # 1. kill the worker running the job: it completes on the other one
        job_id = client.analyze(key, max_drift=2.0)["job_id"]
        runner = wait_for(lambda: runner_of(job_id), timeout=180, every=0.02)
        worker = worker_of(runner)
        assert worker in cluster.worker_pids()
        kernel = wait_for(lambda: child_pids(runner), timeout=120)
        wait_for(lambda: cluster.runs(job_id), timeout=30)          # its start is logged
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: not any(alive(p) for p in [runner, *kernel]), timeout=10,
                 every=0.01)
        dead_at = time.time()            # the lost runner and its kernel are gone by now
        job = client.wait(job_id, timeout=240, poll=0.2, progress=False, exports=True)
        assert job["status"] == "complete", job
        runs = cluster.runs(job_id)
        assert [r.number for r in runs] == [1, 2], runs
        assert runs[0].worker == cluster.worker_named(worker) != runs[1].worker
        assert runs[1].started > dead_at     # never two runners of the job at once
        assert client.download(job_id, "csv")

        # 2. a job whose worker is lost twice fails with a clear error
        job_id = client.analyze(key, max_drift=2.0)["job_id"]
        for name in ("c", "d"):
            runner = wait_for(lambda: runner_of(job_id), timeout=180, every=0.02)
            worker = worker_of(runner)
            assert worker in cluster.worker_pids()
            wait_for(lambda: cluster.worker_named(worker) in
                     {r.worker for r in cluster.runs(job_id)}, timeout=30)
            os.kill(worker, signal.SIGKILL)
            wait_for(lambda: not alive(runner), timeout=10, every=0.01)
            cluster.add_worker(name)
        job = client.wait(job_id, timeout=240, poll=0.2, progress=False)
        assert (job["status"], job.get("error")) == ("failed", LOST_TWICE), job
        assert [r.number for r in cluster.runs(job_id)] == [1, 2]
    finally:
        cluster.stop()
