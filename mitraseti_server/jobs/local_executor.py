"""The local executor: one runner process per job on this machine.

``LocalExecutor.execute`` runs the job in a ``python -m mitraseti_server.jobs.runner``
process in its own process group (its pid is stored in the job row), so a timeout or a
cancel kills the runner, the Jupyter kernel and anything they started. With a kernel pool
(``kernel_pool``, the default) the runner is a spare started before the job arrived, whose
kernel has already imported the pipeline, loaded numba's compiled kernels and the
classifier; each spare runs one job and is replaced in the background when it ends.
Without one a runner is spawned per job. Inputs are held through the blob store's
``open_local`` for the whole run (S3: pinned copies in the input cache).
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from pathlib import Path

from mitraseti.export.formats import DOWNLOAD_FORMATS
from mitraseti_server.errors import BlobError, JobCancelled, JobFailed
from mitraseti_server.jobs import store as js
from mitraseti_server.jobs.executor import CANCEL_POLL_S, BaseExecutor
from mitraseti_server.jobs.kernel_pool import (POOL_DIR, KernelPool, Spare,
                                               kill_group, read_json, start_cold_runner)
from mitraseti_server.jobs.runner import PROGRESS_FILE, RUNNER_FILE, partial_report
from mitraseti_server.jobs.sweeper import Retention, job_prefix
from mitraseti_server.storage.blobs import BlobStore

log = logging.getLogger("mitraseti_server.executor")


class LocalExecutor(BaseExecutor):
    """Runs each job in a ``jobs.runner`` process on this machine: a pre-warmed spare
    from the kernel pool when one is alive, else one spawned for the job."""

    def __init__(self, config, jobs: js.JobStore, blobs: BlobStore, retention: Retention):
        super().__init__(config, jobs, blobs, retention)
        size = int(config.kernel_pool_size)
        size = self.max_workers if size < 0 else size
        self.pool = (KernelPool(self.work_dir / POOL_DIR, size, self.kernel_name)
                     if size > 0 else None)
        self._spares: dict[str, Spare] = {}      # job id -> the spare running it

    def before_dispatch(self) -> None:
        if self.pool is not None:
            self.pool.start()

    def after_stop(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def kill_job(self, job_id: str, pid: int | None) -> None:
        spare = self._spares.get(job_id)
        if spare is not None:
            spare.kill()                        # the runner's group and its kernel
        else:
            kill_group(pid)

    def job_dir(self, job: js.Job) -> Path:
        return self.work_dir / job.job_id

    def input_paths(self, job: js.Job, pins: contextlib.ExitStack) -> list[str]:
        """Local paths of every file the job reads (a cadence: all, in observing order),
        kept until ``pins`` closes (S3: copies in the input cache, pinned; local: the
        blob files themselves)."""
        paths = []
        try:
            for key in job.file_keys:
                try:
                    paths.append(str(pins.enter_context(self.blobs.open_local(key))))
                except BlobError as exc:
                    if exc.code != "NoSuchKey":
                        raise
                    raise JobFailed(f"Uploaded file {key} is missing from the blob store") \
                        from None
        except BaseException:
            pins.close()
            raise
        return paths

    def execute(self, job: js.Job) -> Path:
        pins = contextlib.ExitStack()           # the input files, released when it ends
        paths = self.input_paths(job, pins)
        input_path = paths[0]
        out_dir = self.job_dir(job)
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        params = dict(job.params)
        params.setdefault("source_name", job.source_name)
        if params.pop("cadence", None):      # the runner runs the cadence notebook on these
            params["input_paths"] = paths
        try:
            proc = self._launch(job, str(input_path), out_dir, params)
            self._wait(job, proc, out_dir)
        finally:
            pins.close()
            spare = self._spares.pop(job.job_id, None)
            if spare is not None:
                spare.discard()
            if self.pool is not None and not self._stopping:
                self.pool.fill()                # replace the used kernel, in the background
        outcome = read_json(out_dir / RUNNER_FILE)
        if outcome is None:
            raise JobFailed(f"pipeline process exited with status {proc.returncode} "
                            "without a result")
        if not outcome.get("ok"):
            raise JobFailed(outcome.get("error") or "pipeline failed")
        return out_dir

    def _launch(self, job: js.Job, input_path: str, out_dir: Path,
                params: dict) -> subprocess.Popen:
        """Hand the job to a spare runner of the pool, else spawn a runner for it."""
        spec = {"input": input_path, "out_dir": str(out_dir), "params": params,
                "job_id": job.job_id}
        spare = self.pool.take() if self.pool is not None else None
        if spare is not None:
            self._spares[job.job_id] = spare
            self.jobs.update(job.job_id, pid=spare.pid)
            try:
                spare.assign(spec)
                log.info("job %s runs on spare runner %d (kernel %s)", job.job_id,
                         spare.pid, (spare.info() or {}).get("kernel_id", "still warming"))
                return spare.proc
            except OSError as exc:
                log.warning("spare runner %d died (%s); spawning one for job %s",
                            spare.pid, exc, job.job_id)
                self._spares.pop(job.job_id, None)
                spare.discard()
        proc = start_cold_runner(spec, self.kernel_name)
        self.jobs.update(job.job_id, pid=proc.pid)
        return proc

    def _wait(self, job: js.Job, proc: subprocess.Popen, out_dir: Path) -> None:
        """Wait for the runner, copying its progress; kill it all on the whole-job timeout
        (JobFailed) or when the job is cancelled (JobCancelled)."""
        deadline = time.monotonic() + self.timeout_s
        last_progress, checked = None, time.monotonic()
        while True:
            try:
                proc.wait(timeout=0.5)
                return
            except subprocess.TimeoutExpired:
                pass
            last_progress = self._copy_progress(job, out_dir, last_progress)
            if time.monotonic() - checked >= CANCEL_POLL_S:
                checked = time.monotonic()
                try:
                    self.check_cancelled(job.job_id)
                except JobCancelled:
                    self.kill_job(job.job_id, proc.pid)
                    proc.wait()
                    raise
            if time.monotonic() > deadline:
                self.kill_job(job.job_id, proc.pid)
                proc.wait()
                raise JobFailed(f"timed out after {self.timeout_s:g} s")

    def _copy_progress(self, job: js.Job, out_dir: Path, last):
        prog = read_json(out_dir / PROGRESS_FILE)
        if prog and prog != last:
            self.jobs.update(job.job_id, progress={
                "stage": prog.get("stage", ""), "fraction": prog.get("fraction", 0.0),
                "message": prog.get("message", "")})
            return prog
        return last

    def on_complete(self, job: js.Job, out_dir: Path) -> None:
        """Upload the run's exports from ``out_dir`` and complete the job."""
        outcome = read_json(out_dir / RUNNER_FILE) or {}
        outputs: dict = outcome.get("outputs", {})
        prefix = job_prefix(job.user_id, job.job_id)

        def upload(fmt: str) -> str:
            self.blobs.put_file(prefix + outputs[fmt], str(out_dir / outputs[fmt]))
            return prefix + outputs[fmt]

        try:
            self.finish_with_exports(job, outcome.get("results", {}), list(outputs), upload)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)

    def on_failure(self, job: js.Job, error: str) -> None:
        self.keep_report(job)               # the executed notebook shows where it failed
        super().on_failure(job, error)

    def on_cancelled(self, job: js.Job) -> None:
        self.keep_report(job)               # the cells run before the cancel
        super().on_cancelled(job)

    def keep_report(self, job: js.Job) -> None:
        """Upload the executed notebook (or, for a killed run, papermill's last save of
        it) as the ``notebook`` export, then remove the job's work folder."""
        out_dir = self.job_dir(job)
        report = partial_report(out_dir)
        if report is not None:
            key = job_prefix(job.user_id, job.job_id) + DOWNLOAD_FORMATS["notebook"]
            try:
                self.blobs.put_file(key, str(report))
                self.jobs.add_export(job.job_id, "notebook", key)
            except Exception:  # noqa: BLE001 - the failure itself matters more
                log.exception("could not keep the report of job %s", job.job_id)
        shutil.rmtree(out_dir, ignore_errors=True)
