"""What every job executor shares: the queue, claims, the job life cycle, cancel checks,
restart reconciliation and webhooks (``BaseExecutor``). ``local_executor.LocalExecutor``
runs jobs as processes on this machine, ``dask_executor.DaskExecutor`` on a Dask cluster.

Shape (after jupyter-scheduler): ``run_job`` is a template method calling
``before_start`` -> ``execute`` -> ``on_complete`` | ``on_failure`` | ``on_cancelled``.

Queue: jobs wait in ``submitted``; a dispatcher thread starts the oldest ones while fewer
than ``max_workers`` run. Restart reconciliation (``start()``): a job left ``processing``
by a crash is re-queued once (attempts < 2), else failed with error "interrupted".
Several API processes may share one database: each claimed job records its executor
(``owner``: host, pid, token), and reconciliation leaves alone the jobs of executors still
alive on this host and those of other hosts. The dispatcher repeats that check every
``RECONCILE_EVERY_S``, so a surviving process takes over the jobs of one that crashed.

Settings (``ServiceConfig``): ``max_workers`` (0 pauses processing: jobs queue in
``submitted``), ``job_timeout_s``, ``kernel_name``, ``kernel_pool_size`` (-1: as many
spare warm kernels as ``max_workers``; 0: none, a cold runner per job), and the webhook
settings. A failed job's error is one line with server paths cut to their file names.

Cancel (``JobStore.cancel``, from any API process) only changes the row; the executor
running the job notices it (``check_cancelled``, polled about every second), kills the run
and raises ``JobCancelled``: the status stays ``cancelled``, the partial report is kept as
the ``notebook`` export, the webhook is told and the history pruned.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from tornado.ioloop import IOLoop

from mitraseti_server.errors import JobCancelled, JobFailed
from mitraseti_server.jobs import store as js
from mitraseti_server.jobs.kernel_pool import RUNNER_MODULE, kill_group
from mitraseti_server.jobs.outbox import Outbox
from mitraseti_server.jobs.sweeper import Retention
from mitraseti_server.jobs.webhooks import WebhookSender
from mitraseti_server.storage.blobs import BlobStore

log = logging.getLogger("mitraseti_server.executor")
MAX_ATTEMPTS = 2
RECONCILE_EVERY_S = 15.0       # re-check jobs of ended executors (another process's crash)
CANCEL_POLL_S = 1.0            # how often a running job's row is read for a cancel
# an absolute path in an error message (kept: its last component, the file name)
_ABS_PATH = re.compile(r"(?<![\w.~/:])/(?:[^\s'\"/:,;()\[\]]+/)+([^\s'\"/:,;()\[\]]+)")


def without_paths(message: str) -> str:
    """``message`` with every absolute path cut to its file name (no server layout)."""
    return _ABS_PATH.sub(r"\1", message)


class BaseExecutor:
    """Queue, dispatch and the job life cycle; subclasses implement ``execute``."""

    def __init__(self, config, jobs: js.JobStore, blobs: BlobStore, retention: Retention):
        self.config, self.jobs, self.blobs, self.retention = config, jobs, blobs, retention
        self.max_workers = int(config.max_workers)
        self.timeout_s = float(config.job_timeout_s)
        self.kernel_name = str(config.kernel_name)
        self.work_dir = Path(config.data_dir) / "work"
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.outbox = Outbox(jobs.store)
        self.webhooks = WebhookSender(self.outbox, config.secret_key, owner=self.owner,
                                      attempts=config.webhook_attempts,
                                      backoff_s=config.webhook_backoff_s,
                                      backoff_max_s=config.webhook_backoff_max_s,
                                      allow_private=config.webhook_allow_private)
        self._cond = threading.Condition()
        self._active: dict[str, threading.Thread] = {}
        self._stopping = False
        self._released: set[str] = set()     # killed by stop(): not a failure
        self._dispatcher: threading.Thread | None = None

    # ---- life cycle ---------------------------------------------------------------
    def start(self, io_loop=None) -> None:
        """Reconcile jobs left by a crash, then start dispatching. Call on the IOLoop."""
        if io_loop is None:
            try:
                asyncio.get_running_loop()
                io_loop = IOLoop.current()
            except RuntimeError:
                io_loop = None
        if io_loop is not None:
            self.webhooks.start(io_loop)
        self.reconcile()
        self._stopping = False
        self.before_dispatch()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, daemon=True,
                                            name="mitraseti-dispatcher")
        self._dispatcher.start()

    def stop(self, requeue: bool = True) -> None:
        """Stop dispatching (server shutdown). With ``requeue`` (default) running jobs are
        killed and put back in the queue without using up an attempt: a clean shutdown
        is not a crash, and the next start runs them again."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            active = list(self._active)
        if requeue:
            for job_id in active:
                self._released.add(job_id)
                job = self.jobs.get(job_id)
                if job is None or job.status != js.PROCESSING:
                    continue
                self.kill_job(job_id, job.pid)
                self.jobs.requeue(job_id, attempts=max(job.attempts - 1, 0))
        self.webhooks.stop()
        self.after_stop()

    def before_dispatch(self) -> None:
        """Hook: after reconciliation, before the first job is dispatched."""

    def after_stop(self) -> None:
        """Hook: the executor stopped."""

    def kill_job(self, job_id: str, pid: int | None) -> None:
        """Kill a running job's process group."""
        kill_group(pid)

    def submit(self, job_id: str) -> None:
        """Wake the dispatcher for a newly committed job."""
        with self._cond:
            self._cond.notify_all()

    def reconcile(self) -> None:
        """Jobs left ``processing`` by a previous server: kill orphans, re-queue or fail.
        The runners of jobs cancelled after their executor ended are killed too."""
        for job in self.jobs.with_status(js.PROCESSING):
            if job.job_id in self._active or not owner_is_gone(job.owner, self.owner):
                continue
            if job.pid and is_runner_of(job.pid, job.job_id):
                kill_group(job.pid)
            if job.attempts < MAX_ATTEMPTS:
                log.info("re-queueing interrupted job %s (attempt %d)", job.job_id,
                         job.attempts)
                self.jobs.requeue(job.job_id)
            else:
                self.jobs.finish(job.job_id, js.FAILED, error="interrupted")
            self.notify(job.job_id)
        for job in self.jobs.cancelled_with_pid():   # cancelled after its executor ended
            if job.job_id in self._active or not owner_is_gone(job.owner, self.owner):
                continue
            if is_runner_of(job.pid, job.job_id):
                kill_group(job.pid)
            self.jobs.update(job.job_id, only_if=(js.CANCELLED,), pid=None)

    def _dispatch_loop(self) -> None:
        reconciled = time.monotonic()
        while True:
            with self._cond:
                if self._stopping:
                    return
            if time.monotonic() - reconciled >= RECONCILE_EVERY_S:
                reconciled = time.monotonic()
                try:
                    self.reconcile()
                except Exception:  # noqa: BLE001 - e.g. a locked database: retry later
                    log.exception("reconciling interrupted jobs failed")
            with self._cond:
                free = self.max_workers - len(self._active)
            if free > 0:
                try:
                    self._start_queued(free)
                except Exception:  # noqa: BLE001 - e.g. a locked database: retry soon
                    log.exception("dispatching queued jobs failed")
            with self._cond:
                if not self._stopping:
                    self._cond.wait(timeout=2.0)

    def _start_queued(self, free: int) -> None:
        """Claim up to ``free`` of the oldest submitted jobs and start a thread for each."""
        for job in self.jobs.with_status(js.SUBMITTED):
            if free <= 0:
                return
            if job.job_id in self._active:
                continue
            claimed = self.jobs.claim(job.job_id, owner=self.owner)
            if claimed is None:
                continue
            t = threading.Thread(target=self.run_job, args=(claimed,), daemon=True,
                                 name=f"job-{job.job_id[:8]}")
            with self._cond:
                self._active[job.job_id] = t
            t.start()
            free -= 1

    # ---- template method ----------------------------------------------------------
    def run_job(self, job: js.Job) -> None:
        try:
            self.before_start(job)
            try:
                outcome = self.execute(job)
                if job.job_id in self._released:
                    return                   # shut down mid-run: re-queued by stop()
            except JobCancelled:
                if job.job_id in self._released:
                    return
                self.on_cancelled(job)
            except JobFailed as exc:
                if job.job_id in self._released:
                    return
                self.on_failure(job, str(exc))
            except Exception as exc:  # noqa: BLE001 - any crash fails the job, clearly
                log.exception("job %s crashed", job.job_id)
                self.on_failure(job, f"{type(exc).__name__}: {exc}")
            else:
                self.on_complete(job, outcome)
        except Exception:  # noqa: BLE001 - never leave the dispatcher slot taken
            log.exception("job %s: bookkeeping failed", job.job_id)
        finally:
            with self._cond:
                self._active.pop(job.job_id, None)
                self._cond.notify_all()

    def before_start(self, job: js.Job) -> None:
        self.notify(job)

    def execute(self, job: js.Job):
        raise NotImplementedError

    def on_complete(self, job: js.Job, outcome) -> None:
        raise NotImplementedError

    def on_failure(self, job: js.Job, error: str) -> None:
        self.jobs.finish(job.job_id, js.FAILED, error=without_paths(error))
        self.notify(job.job_id)
        self.after_finish(job)

    def finish_with_exports(self, job: js.Job, results: dict, formats: list[str],
                            store: Callable[[str], str]) -> None:
        """Complete the job with its exports: the results export first (so ``complete``
        can be downloaded), then the others and ``exports_ready``. ``store(fmt)`` puts one
        export where downloads find it and returns its blob key. A job cancelled as it
        ended stays cancelled."""
        if "json" in formats:
            self.jobs.add_export(job.job_id, "json", store("json"))
        if not self.jobs.finish(job.job_id, js.COMPLETE, results=results):
            self.on_cancelled(job)
            return
        self.notify(job.job_id)
        try:
            for fmt in formats:
                if fmt != "json":
                    self.jobs.add_export(job.job_id, fmt, store(fmt))
            self.jobs.update(job.job_id, exports_ready=1)
        finally:
            self.after_finish(job)

    def check_cancelled(self, job_id: str) -> None:
        """Raise JobCancelled when the job's row is no longer ``processing`` (one-column
        read): cancelled, or already cancelled and retried (queued again)."""
        status = self.jobs.status_of(job_id)
        if status != js.PROCESSING:
            raise JobCancelled("Cancelled by the user", job_id=job_id, status=status)

    def on_cancelled(self, job: js.Job) -> None:
        """The run was stopped after a cancel: the status stays ``cancelled`` (set by
        ``JobStore.cancel``); tell the webhook, prune the history."""
        self.jobs.update(job.job_id, only_if=(js.CANCELLED,), pid=None)
        self.notify(job.job_id)
        self.after_finish(job)

    def after_finish(self, job: js.Job) -> None:
        """Prune the user's history to the tier's job_history."""
        self.retention.prune_user(job.user_id)

    # ---- webhooks -----------------------------------------------------------------
    def notify(self, job: js.Job | str) -> None:
        """Queue the job's JSON (a row snapshot, or the current row for an id) for its
        webhook, if any, in the outbox (one INSERT; the sender delivers it)."""
        if isinstance(job, str):
            job = self.jobs.get(job)
        if job is not None and job.webhook_url:
            self.webhooks.notify(job.job_id, job.webhook_url, job.public(),
                                 created_ns=job.inserted_ns)


def owner_is_gone(owner: str | None, me: str) -> bool:
    """True when the executor ``owner`` (``host:pid:token``) of a processing job is no
    longer running: a job without owner, an earlier executor of this process, or one
    whose process has ended on this host. Executors on other hosts count as alive."""
    if not owner or owner == me:
        return True
    host, pid, _token = owner.rsplit(":", 2)
    my_host, my_pid, _ = me.rsplit(":", 2)
    if host != my_host:
        return False
    return pid == my_pid or not Path(f"/proc/{pid}").exists()


def is_runner_of(pid: int, job_id: str) -> bool:
    """True when ``pid`` is alive and is the job runner of ``job_id`` (Linux /proc):
    named in its command line, or (a pooled runner) its working directory is the job's."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if RUNNER_MODULE.encode() not in cmdline:
        return False
    if job_id.encode() in cmdline:
        return True
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")).name == job_id
    except OSError:
        return False
