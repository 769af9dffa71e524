"""The executor's pool of pre-warmed kernels, with real parts: a real server on 127.0.0.1,
real spare runner processes and Jupyter kernels, real SQLite. A job runs on a kernel that
was started and warmed up before the job was submitted; each kernel runs one job and the
pool refills; pool size 0 runs a cold runner per job; a failing notebook is reported the
same way with and without the pool; the whole-job timeout kills the warm kernel too."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import waiting  # noqa: E402
from waiting import alive  # noqa: E402
import test_jobs_harness as H  # noqa: E402

from mitraseti.client import Client  # noqa: E402
from mitraseti_server.auth.keys import create_api_key  # noqa: E402
from mitraseti_server.jobs.kernel_pool import POOL_DIR  # noqa: E402

PARAMETERS = ("input_path: str = ''\noutput_dir: str = ''\nmax_drift: float = 4.0\n"
              "min_drift: float = 0.0\nsnr: float = 10.0\nn_coarse_chan: int = 0\n"
              "source_name: str = ''\nprogress_path: str = ''\n")


def client_for(server) -> Client:
    store = server.services.store
    user = store.create_user(f"pool-{time.monotonic_ns()}", "researcher")
    return Client(server.url, api_key=create_api_key(store, user.user_id, "t").api_key)


def wait_for(pred, timeout=240.0, every=0.1):
    """Spares warm up for several seconds each on 2 cores: a longer default wait."""
    return waiting.wait_for(pred, timeout, every)


def ready_spares(server, n: int) -> list[dict]:
    """Wait until the pool holds ``n`` warm spares; their ready.json records."""
    pool = server.services.executor.pool
    wait_for(lambda: pool.ready_count() == n)
    return [s.info() for s in pool.spares()]


def run_job(client: Client, key: str, tmp_path: Path) -> tuple[dict, float, dict]:
    """Submit, wait; returns (job JSON, unix time just before submitting, report metadata)."""
    submitted = time.time()
    job_id = client.analyze(key, max_drift=2.0)["job_id"]
    job = client.wait(job_id, timeout=300, poll=0.2, progress=False, exports=True)
    report = client.download(job_id, "notebook", dest=tmp_path / f"{job_id}.ipynb")
    return job, submitted, nbformat.read(str(report), as_version=4).metadata


def write_notebook(path: Path, body: str) -> Path:
    params = nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.mark.slow
def test_jobs_run_on_prewarmed_kernels_one_job_each_and_the_pool_refills(start_server,
                                                                          tmp_path):
    server = start_server(kernel_pool_size=2, max_workers=1)
    spares = ready_spares(server, 2)
    client = client_for(server)
    key = client.upload(H.write_observation(tmp_path / "obs.fil"), progress=False)

    records = []
    for _ in range(2):
        job, submitted, meta = run_job(client, key, tmp_path)
        assert job["status"] == "complete", job
        assert job["results"]["filtered_hits"] >= 1            # the injected tone
        rec = meta["mitraseti"]["kernel"]
        assert rec["kernel_id"] in {s["kernel_id"] for s in spares}
        assert rec["started_at"] < submitted                   # started before the job ...
        assert rec["warm_up"]["done_at"] < submitted           # ... and warmed up before it,
        assert rec["warm_up"]["pid"] == rec["kernel_pid"]      # in the kernel that ran it,
        factory = rec["warm_up"]["forked_from"]                # forked from the warm factory
        assert factory != rec["kernel_pid"] and b"--factory" in proc_cmdline(factory)
        assert rec["warm_up"]["seconds"]["preload"] > 0
        wait_for(lambda: not alive(rec["kernel_pid"]))          # shut down after its job
        records.append(rec)
    first, second = records
    assert first["kernel_id"] != second["kernel_id"]
    assert first["kernel_pid"] != second["kernel_pid"]

    assert first["warm_up"]["forked_from"] == second["warm_up"]["forked_from"]

    refilled = ready_spares(server, 2)                          # replaced in the background
    used = {first["kernel_id"], second["kernel_id"]}
    assert not used & {s["kernel_id"] for s in refilled}
    assert all(alive(s["kernel_pid"]) for s in refilled)


def proc_cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_pool_size_zero_spawns_a_cold_runner_per_job(start_server, tmp_path):
    server = start_server(kernel_pool_size=0)
    assert server.services.executor.pool is None
    client = client_for(server)
    key = client.upload(H.write_observation(tmp_path / "obs.fil"), progress=False)
    job, _, meta = run_job(client, key, tmp_path)
    assert job["status"] == "complete", job
    assert job["results"]["filtered_hits"] >= 1
    assert "mitraseti" not in meta                 # no pre-warmed kernel ran it
    assert not (server.config.data_dir / "work" / POOL_DIR).exists()


@pytest.mark.slow
def test_failing_notebook_is_reported_the_same_with_and_without_the_pool(
        start_server, tmp_path, monkeypatch):
    notebook = write_notebook(tmp_path / "failing.ipynb", "from pathlib import Path\n"
                              "raise ValueError(f'no luck with {Path(input_path).name}')")
    monkeypatch.setenv("MITRASETI_PIPELINE_NOTEBOOK", str(notebook))
    obs = H.write_observation(tmp_path / "obs.fil")
    errors = {}
    for size in (0, 1):
        server = start_server(kernel_pool_size=size, max_workers=1)
        spare = ready_spares(server, 1)[0] if size else None
        client = client_for(server)
        job, _, meta = run_job(client, client.upload(obs, progress=False), tmp_path)
        assert job["status"] == "failed" and "results" not in job
        assert ("mitraseti" in meta) == bool(size)   # the kept report; warm kernel or not
        errors[size] = job["error"]
    assert errors[0] == errors[1] == "ValueError: no luck with obs.fil"
    refilled = ready_spares(server, 1)              # the failed job's kernel was replaced
    assert refilled[0]["kernel_id"] != spare["kernel_id"]


@pytest.mark.slow
def test_timeout_kills_the_runner_and_its_warm_kernel(start_server, tmp_path, monkeypatch):
    notebook = write_notebook(tmp_path / "sleepy.ipynb", "import time\ntime.sleep(3600)")
    monkeypatch.setenv("MITRASETI_PIPELINE_NOTEBOOK", str(notebook))
    server = start_server(kernel_pool_size=1, max_workers=1, job_timeout_s=3)
    pool = server.services.executor.pool
    spare = ready_spares(server, 1)[0]
    runner_pid = pool.spares()[0].pid
    assert alive(runner_pid) and alive(spare["kernel_pid"])
    client = client_for(server)
    key = client.upload(H.write_observation(tmp_path / "obs.fil"), progress=False)
    job_id = client.analyze(key)["job_id"]
    jobs = server.services.job_store
    assert wait_for(lambda: jobs.get(job_id).pid) == runner_pid   # the job runs in the spare
    job = client.wait(job_id, timeout=300, poll=0.2, progress=False)
    assert (job["status"], job["error"]) == ("failed", "timed out after 3 s")
    wait_for(lambda: not alive(runner_pid) and not alive(spare["kernel_pid"]), timeout=30)


@pytest.mark.parametrize("value", ["-2", "two"])
def test_bad_pool_size_is_refused(tmp_path, value):
    from mitraseti_server.config import ServiceConfig
    from mitraseti_server.errors import ConfigError
    with pytest.raises(ConfigError, match="KERNEL_POOL_SIZE|kernel_pool_size"):
        ServiceConfig.load(data_dir=tmp_path, env={"MITRASETI_KERNEL_POOL_SIZE": value})



@pytest.mark.slow
def test_idle_spare_exits_on_eof_and_a_running_one_is_found_by_its_job_dir(tmp_path):
    """The pool without a server: an idle spare whose stdin closes (the server died) exits
    with its kernel; a spare that got a job is recognised by restart reconciliation."""
    from mitraseti_server.jobs.executor import is_runner_of
    from mitraseti_server.jobs.kernel_pool import KernelPool

    pool = KernelPool(tmp_path / "work" / POOL_DIR, 2, "python3")
    pool.start()
    try:
        wait_for(lambda: pool.ready_count() == 2)
        idle, busy = pool.take(), pool.take()
        extra = pool.take()              # none left: the factory forks one on demand
        assert extra is not None and extra.forked
        extra.discard()
        idle_kernel = idle.info()["kernel_pid"]
        idle.proc.stdin.close()
        assert idle.proc.wait(timeout=60) == 0
        wait_for(lambda: not alive(idle_kernel), timeout=30)

        job_id = "0f1e2d3c-job"
        out_dir = tmp_path / "work" / job_id
        assert not is_runner_of(busy.pid, job_id)
        busy.assign({"input": str(H.write_observation(tmp_path / "obs.fil")),
                     "out_dir": str(out_dir), "params": {"max_drift": 2.0},
                     "job_id": job_id})
        wait_for(lambda: is_runner_of(busy.pid, job_id), every=0.02)   # cwd = job dir
        assert busy.proc.wait(timeout=240) == 0
        result = json.loads((out_dir / "_runner.json").read_text())
        assert result["ok"] and result["results"]["filtered_hits"] >= 1, result
        assert result["outputs"]["notebook"] == "report.ipynb"
        assert not is_runner_of(busy.pid, job_id)            # exited
        busy.discard()
        idle.discard()
    finally:
        pool.close()
