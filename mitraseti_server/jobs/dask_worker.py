"""What runs on a Dask worker for the Dask executor (``dask_executor`` is the API side).

- ``WarmKernels``: a ``distributed.WorkerPlugin`` that keeps a ``KernelPool`` of spare warm
  runners in the worker's local directory (``size`` -1: one per worker thread). Its spares
  run with ``--die-with-parent <worker pid>``: when the worker process dies, they and their kernels die
  within a fraction of a second, so a lost worker's job never runs beside its retry.
- ``run_job(spec)``: the task of ONE job (key ``mitraseti-job-<job id>``). It counts its
  start in a ``distributed.Variable`` (a third start means the job's worker was lost twice:
  it fails without running; a second start first waits ``RETRY_FENCE_S``), gets local
  input paths through the blob store built from the API's settings (cached per worker
  process), runs the job exactly as the local executor
  does (``jobs.runner`` through papermill, on a spare when one is alive), uploads the
  outputs (or the partial report of a failed run) under ``sweeper.job_prefix`` and returns
  ``{"ok", "results", "outputs": {fmt: blob key}, "error"}``.

While the runner works, the task publishes the runner's ``_progress.json`` and its start
and end as worker events (topic ``EVENT_TOPIC``), and logs the start and the end with
their unix times (``job ID: run N started at T ...``). It kills the runner (and its kernel)
on the whole-job timeout, when the API asks it to stop (a ``Variable``: "cancelled" or
"timeout") and when its key is released on this worker (the API process went away).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from distributed import Variable, WorkerPlugin, get_worker

from mitraseti.export.formats import DOWNLOAD_FORMATS
from mitraseti_server.config import ENV_PREFIX, ServiceConfig
from mitraseti_server.errors import BlobError, JobFailed
from mitraseti_server.jobs.runner import partial_report
from mitraseti_server.jobs.kernel_pool import (POOL_DIR, KernelPool, Spare,
                                               kill_group, read_json, start_cold_runner)
from mitraseti_server.jobs.runner import PROGRESS_FILE, RUNNER_FILE, child_pids
from mitraseti_server.storage.blobs import BlobStore
from mitraseti_server.storage.registry import make_blob_store

log = logging.getLogger("mitraseti_server.dask_worker")
PLUGIN_NAME = "mitraseti-kernels"
EVENT_TOPIC = "mitraseti-jobs"
MAX_RUNS = 2                     # a job is started at most twice (one retry)
LOST_TWICE = "the Dask worker running this job was lost twice"
POLL_S = 0.5                     # runner and stop-request polling, s
RETRY_FENCE_S = 1.0              # a retry waits this long: the lost worker's runner, which
                                 # dies within 0.05 s of its worker, is surely gone
NOT_SENT = ("tiers", "secret_key", "database")   # settings a worker never needs


def job_key(job_id: str) -> str:
    """The Dask key of a job's task: one task per job, so it never runs twice at once."""
    return f"mitraseti-job-{job_id}"


def starts_name(job_id: str) -> str:
    return f"mitraseti-starts-{job_id}"


def stop_name(job_id: str) -> str:
    return f"mitraseti-stop-{job_id}"


def worker_settings(config: ServiceConfig) -> dict:
    """The API's settings a worker rebuilds its ServiceConfig from (plain values)."""
    out = {}
    for name in ServiceConfig.settings():
        if name not in NOT_SENT:
            value = getattr(config, name)
            out[name] = str(value) if isinstance(value, Path) else value
    out["data_dir"] = str(config.data_dir)
    return out


# ---- worker plugin: warm kernels --------------------------------------------------------
class WarmKernels(WorkerPlugin):
    """A pool of ``size`` spare warm runners per worker (-1: one per worker thread)."""

    name = PLUGIN_NAME
    idempotent = True          # a second API process does not restart the workers' pools

    def __init__(self, size: int, kernel_name: str):
        self.size, self.kernel_name = int(size), kernel_name
        self.pool: KernelPool | None = None

    def setup(self, worker) -> None:
        show_logs()
        size = worker.state.nthreads if self.size < 0 else self.size
        if size > 0:
            self.pool = KernelPool(Path(worker.local_directory) / "mitraseti" / POOL_DIR,
                                   size, self.kernel_name, die_with_parent=True)
            self.pool.start()

    def teardown(self, worker) -> None:
        if self.pool is not None:
            self.pool.close()


def show_logs() -> None:
    """Send this package's INFO logs to stderr in a worker process that has no logging
    set up (``dask worker`` only configures distributed's own loggers)."""
    logger = logging.getLogger("mitraseti_server")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


# ---- the settings and blob store of this worker process ---------------------------------
_stores: dict[str, BlobStore] = {}
_stores_lock = threading.Lock()


def blob_store(settings: dict) -> BlobStore:
    """The blob store for the API's ``settings``, built once per worker process. The
    worker's own ``MITRASETI_*`` environment wins (e.g. another mount of the data dir)."""
    fingerprint = json.dumps(settings, sort_keys=True, default=str)
    with _stores_lock:
        if fingerprint not in _stores:
            env = dict(os.environ)
            given = {k: v for k, v in settings.items()
                     if k != "data_dir" and ENV_PREFIX + k.upper() not in env}
            config = ServiceConfig.load(
                data_dir=env.get(ENV_PREFIX + "DATA_DIR") or settings["data_dir"], env=env,
                **given)
            _stores[fingerprint] = make_blob_store(config)
        return _stores[fingerprint]


# ---- the task ---------------------------------------------------------------------------
def run_job(spec: dict) -> dict:
    """Run one job on this worker. ``spec``: ``job_id``, ``file_keys``, ``params`` (typed),
    ``cadence`` (bool), ``prefix`` (blob-key prefix of its outputs), ``kernel_name``,
    ``timeout_s`` and ``settings`` (``worker_settings``)."""
    worker = get_worker()
    show_logs()
    job_id = spec["job_id"]
    run = count_start(job_id)
    if run > MAX_RUNS:
        log.info("job %s: not started again (run %d): %s", job_id, run, LOST_TWICE)
        return {"ok": False, "error": LOST_TWICE, "outputs": {}, "results": {}}
    if run > 1:
        time.sleep(RETRY_FENCE_S)
    blobs = blob_store(spec["settings"])
    out_dir = Path(worker.local_directory) / "mitraseti" / job_id
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    try:
        try:
            with contextlib.ExitStack() as pins:         # the inputs, kept while it runs
                outcome = JobRun(worker, spec, run, out_dir).run(
                    input_paths(blobs, spec, pins))
        except JobFailed as exc:
            outcome = {"ok": False, "error": str(exc)}
        return upload(blobs, spec["prefix"], out_dir, outcome)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def count_start(job_id: str) -> int:
    """This start's number (1, 2, ...), kept in the job's Variable on the scheduler. One
    task per key runs at a time, so the read-then-write does not race."""
    var = Variable(starts_name(job_id))
    try:
        done = int(var.get(timeout=5) or 0)
    except TimeoutError:
        done = 0
    var.set(done + 1)
    return done + 1


def input_paths(blobs: BlobStore, spec: dict, pins: contextlib.ExitStack) -> list[str]:
    """Local paths of every file the job reads (a cadence: all, in observing order), kept
    until ``pins`` closes (S3: copies in this machine's input cache, pinned)."""
    paths = []
    for key in spec["file_keys"]:
        try:
            paths.append(str(pins.enter_context(blobs.open_local(key))))
        except BlobError as exc:
            if exc.code != "NoSuchKey":
                raise
            raise JobFailed(f"Uploaded file {key} is missing from the blob store") from None
    return paths


def upload(blobs: BlobStore, prefix: str, out_dir: Path, outcome: dict) -> dict:
    """Put the run's outputs (a failed run: its partial report) in the blob store; the
    outcome with ``outputs`` as format -> blob key."""
    keys = {}
    if outcome.get("ok"):
        names = outcome.get("outputs", {})
        for fmt in sorted(names, key=lambda f: f != "json"):      # core results first
            blobs.put_file(prefix + names[fmt], str(out_dir / names[fmt]))
            keys[fmt] = prefix + names[fmt]
    else:
        report = partial_report(out_dir)
        if report is not None:
            key = prefix + DOWNLOAD_FORMATS["notebook"]
            try:
                blobs.put_file(key, str(report))
                keys["notebook"] = key
            except Exception:  # noqa: BLE001 - the failure itself matters more
                log.exception("could not keep the report of job %s", out_dir.name)
    return {"ok": bool(outcome.get("ok")), "results": outcome.get("results", {}),
            "outputs": keys, "error": outcome.get("error")}


class JobRun:
    """One start of a job's runner on this worker, watched until it ends."""

    def __init__(self, worker, spec: dict, run: int, out_dir: Path):
        self.worker, self.spec, self.run_number, self.out_dir = worker, spec, run, out_dir
        self.job_id = spec["job_id"]
        self.key = worker.get_current_task()
        self.spare: Spare | None = None
        self.proc: subprocess.Popen | None = None

    def run(self, paths: list[str]) -> dict:
        params = dict(self.spec["params"])
        if self.spec.get("cadence"):          # the runner runs the cadence notebook on these
            params["input_paths"] = paths
        plugin = self.worker.plugins.get(PLUGIN_NAME)
        pool = getattr(plugin, "pool", None)
        started = time.time()
        try:
            self.launch(pool, paths[0], params)
            self.event("start", runner_pid=self.proc.pid, time=started)
            log.info("job %s: run %d started at %.3f (runner pid %d, worker %s)",
                     self.job_id, self.run_number, started, self.proc.pid,
                     self.worker.address)
            self.wait()
        finally:
            ended = time.time()
            self.stop_runner()
            if pool is not None:
                pool.fill()                     # replace the used kernel, in the background
            if self.proc is not None:
                log.info("job %s: run %d ended at %.3f (status %s)", self.job_id,
                         self.run_number, ended, self.proc.returncode)
                self.event("end", time=ended)
        outcome = read_json(self.out_dir / RUNNER_FILE)
        if outcome is None:
            raise JobFailed(f"pipeline process exited with status {self.proc.returncode} "
                            "without a result")
        return outcome

    def launch(self, pool: KernelPool | None, input_path: str, params: dict) -> None:
        """Hand the job to a spare runner of the pool, else spawn a runner for it."""
        job = {"input": input_path, "out_dir": str(self.out_dir), "params": params,
               "job_id": self.job_id}
        spare = pool.take() if pool is not None else None
        if spare is not None:
            try:
                spare.assign(job)
                self.spare, self.proc = spare, spare.proc
                return
            except OSError:
                log.warning("spare runner %d died; spawning one for job %s", spare.pid,
                            self.job_id)
                spare.discard()
        self.proc = start_cold_runner(job, self.spec["kernel_name"], die_with_parent=True)

    def wait(self) -> None:
        """Wait for the runner, publishing its progress; JobFailed on the whole-job
        timeout, a stop request from the API or this task's key being released."""
        timeout = float(self.spec["timeout_s"])
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                self.proc.wait(timeout=POLL_S)
                return
            except subprocess.TimeoutExpired:
                pass
            progress = read_json(self.out_dir / PROGRESS_FILE)
            if progress and progress != last:
                last = progress
                self.event("progress", progress={
                    "stage": progress.get("stage", ""),
                    "fraction": progress.get("fraction", 0.0),
                    "message": progress.get("message", "")})
            reason = self.stop_requested()
            if reason is None and time.monotonic() > deadline:
                reason = "timeout"
            if reason is not None:
                self.stop_runner()
                raise JobFailed(f"timed out after {timeout:g} s" if reason == "timeout"
                                else reason)

    def stop_requested(self) -> str | None:
        """Why the run must stop now, or None: "cancelled" / "timeout" from the API, or
        this task's key no longer wanted on this worker."""
        state = self.worker.state.tasks.get(self.key)
        if state is None or state.state in ("cancelled", "released", "forgotten"):
            return "stopped: the job's Dask task was released"
        try:
            reason = Variable(stop_name(self.job_id)).get(timeout=2)
        except TimeoutError:
            return None
        return reason or None

    def stop_runner(self) -> None:
        """Kill the runner's children (its kernel), its process group and the spare's
        kernel; reap it."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            for pid in child_pids(self.proc.pid):
                kill_group(pid)
        if self.spare is not None:
            self.spare.discard()
        else:
            if self.proc.returncode is None:
                kill_group(self.proc.pid)
            self.proc.wait()

    def event(self, kind: str, **fields) -> None:
        """Tell the API (every client subscribed to ``EVENT_TOPIC``)."""
        self.worker.log_event(EVENT_TOPIC, {"job_id": self.job_id, "run": self.run_number,
                                            "event": kind, "worker": self.worker.address,
                                            **fields})
