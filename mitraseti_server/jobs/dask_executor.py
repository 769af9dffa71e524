"""Dask executor: jobs run on a Dask distributed cluster; the database stays authoritative.

``executor = "dask://HOST:PORT"`` (or ``tcp://``) uses an existing scheduler;
``"dask-local[:N]"`` starts a ``distributed.LocalCluster`` of N worker processes (default 2)
with one thread each, closed when the service stops. The queue, the claim and the life
cycle are ``BaseExecutor``'s: the dispatcher claims a job in the database (``max_workers``
caps how many this API process has in flight), then submits ONE task per job with the key
``mitraseti-job-<job id>`` (``dask_worker.run_job``), so a job never runs twice at once, and
a thread waits for it:

- progress: the task's worker events (topic ``dask_worker.EVENT_TOPIC``) are copied into
  the job row, so GET /jobs/{id} shows progress as with the local executor;
- cancel (the row says ``cancelled``, read every ``CANCEL_POLL_S``) and the whole-job
  timeout (``job_timeout_s``, also enforced on the worker): the thread asks the task to
  stop (a ``distributed.Variable`` per job), keeps the partial report the task uploads, and
  cancels the future after ``STOP_GRACE_S`` at most;
- worker loss: the scheduler re-runs the task on another worker; the task counts its own
  starts, so the second loss fails the job with ``dask_worker.LOST_TWICE`` (``GAVE_UP``
  when the scheduler's own ``allowed-failures`` runs out first: ``KilledWorker``);
- scheduler loss (the client cancels every future): the job is re-queued as after an API
  crash (a second time: failed), and the dispatcher reconnects with a fresh client;
- outputs: the task uploads them under ``sweeper.job_prefix``; this side records the
  exports and finishes the job.

Workers keep warm kernels: the executor registers ``dask_worker.WarmKernels`` (sized by
``kernel_pool_size``, -1: one per worker thread) when it connects. It connects in the
dispatcher thread, so the API starts even while the scheduler is unreachable (jobs wait in
``submitted`` and the connection is retried).
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import time

from distributed import Client, KilledWorker, LocalCluster, Variable

from mitraseti_server.errors import JobCancelled, JobFailed
from mitraseti_server.jobs import store as js
from mitraseti_server.jobs.dask_worker import (EVENT_TOPIC, PLUGIN_NAME, WarmKernels,
                                               job_key, run_job, starts_name, stop_name,
                                               worker_settings)
from mitraseti_server.jobs.executor import CANCEL_POLL_S, MAX_ATTEMPTS, BaseExecutor
from mitraseti_server.jobs.sweeper import job_prefix

log = logging.getLogger("mitraseti_server.dask_executor")
GAVE_UP = "the Dask workers running this job were lost (the scheduler gave up on it)"
STOP_GRACE_S = 30.0            # wait this long for a stopped task to return its report
CONNECT_TIMEOUT_S = 10.0


class DaskExecutor(BaseExecutor):
    """Runs each job as one task on a Dask cluster (see the module docstring)."""

    def __init__(self, config, jobs, blobs, retention):
        super().__init__(config, jobs, blobs, retention)
        self.target = config.executor_target
        self.pool_size = int(config.kernel_pool_size)
        self.client: Client | None = None
        self.cluster: LocalCluster | None = None
        self._futures: dict[str, object] = {}        # job id -> its task's future
        self._events: dict[str, dict] = {}           # job id -> latest progress event
        self._events_lock = threading.Lock()
        self._lost = False                           # the scheduler dropped our tasks
        self._connection = threading.Lock()          # connect vs. close at shutdown

    # ---- connection -----------------------------------------------------------------
    def connect(self) -> Client:
        """Start the LocalCluster (dask-local) or reach the scheduler, register the
        warm-kernel plugin and subscribe to the jobs' events."""
        if self.client is not None:
            return self.client
        address = self.target.address
        if self.target.kind == "dask-local":
            self.cluster = LocalCluster(
                n_workers=self.target.workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None,
                local_directory=str(self.work_dir / "dask"))
            address = self.cluster.scheduler_address
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        client.register_plugin(WarmKernels(self.pool_size, self.kernel_name),
                               name=PLUGIN_NAME)
        client.subscribe_topic(EVENT_TOPIC, self._on_event)
        log.info("jobs run on the Dask scheduler %s", address)
        self.client = client
        return client

    def _start_queued(self, free: int) -> None:
        """Connect first (in the dispatcher thread; retried while it fails)."""
        with self._connection:
            if self._stopping:
                return
            if self.client is not None and (self._lost or self.client.status == "closed"):
                log.warning("lost the Dask scheduler; reconnecting")   # a fresh client
                self._close()                 # registers the plugin and events again
            if self.client is None:
                try:
                    self.connect()
                except Exception as exc:  # noqa: BLE001 - jobs wait; the dispatcher retries
                    log.warning("cannot reach the Dask cluster (%s); jobs wait", exc)
                    self._close()
                    return
        super()._start_queued(free)

    def after_stop(self) -> None:
        with self._connection:
            self._close()

    def _close(self) -> None:
        """Close the client and the LocalCluster (if any)."""
        client, cluster, self.client, self.cluster = self.client, self.cluster, None, None
        self._lost = False
        for closable in (client, cluster):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # noqa: BLE001 - shutting down anyway
                    log.exception("closing the Dask %s failed", type(closable).__name__)

    def kill_job(self, job_id: str, pid: int | None) -> None:
        """Cancel the job's task (its worker then kills the runner)."""
        future = self._futures.get(job_id)
        if future is not None:
            future.cancel()

    def _on_event(self, event) -> None:
        """A worker's start / progress / end event (on the client's event loop)."""
        _, msg = event
        if not isinstance(msg, dict) or msg.get("job_id") not in self._futures:
            return
        if msg.get("event") == "start":
            log.info("job %s: run %s started on %s (runner pid %s)", msg["job_id"],
                     msg.get("run"), msg.get("worker"), msg.get("runner_pid"))
            progress = {"stage": "starting", "fraction": 0.0,
                        "message": f"running on Dask worker {msg.get('worker')}"}
        elif msg.get("event") == "progress":
            progress = msg["progress"]
        else:
            return
        with self._events_lock:
            self._events[msg["job_id"]] = progress

    # ---- one job --------------------------------------------------------------------
    def task_spec(self, job: js.Job) -> dict:
        params = dict(job.params)
        params.setdefault("source_name", job.source_name)
        cadence = bool(params.pop("cadence", None))
        return {"job_id": job.job_id, "file_keys": job.file_keys, "params": params,
                "cadence": cadence, "prefix": job_prefix(job.user_id, job.job_id),
                "kernel_name": self.kernel_name, "timeout_s": self.timeout_s,
                "settings": worker_settings(self.config)}

    def execute(self, job: js.Job) -> dict | None:
        """The task's outcome; None when the job went back to the queue."""
        future = None
        try:
            client = self.client
            Variable(stop_name(job.job_id), client=client).set("")
            Variable(starts_name(job.job_id), client=client).set(0)
            future = client.submit(run_job, self.task_spec(job), key=job_key(job.job_id),
                                   pure=False)
            self._futures[job.job_id] = future
            self.jobs.update(job.job_id, only_if=(js.PROCESSING,), progress={
                "stage": "starting", "fraction": 0.0, "message": "queued on the Dask cluster"})
            return self._wait(job, future)
        except Exception:
            if job.job_id in self._released:
                return None                  # shutting down: re-queued by stop()
            raise
        finally:
            self._futures.pop(job.job_id, None)
            with self._events_lock:
                self._events.pop(job.job_id, None)
            if future is not None:
                self._forget(job.job_id, future)

    def _forget(self, job_id: str, future) -> None:
        try:
            future.release()
            for name in (stop_name(job_id), starts_name(job_id)):
                Variable(name, client=future.client).delete()
        except Exception:  # noqa: BLE001 - the client may be closing
            log.debug("could not clean up after job %s", job_id, exc_info=True)

    def _wait(self, job: js.Job, future) -> dict | None:
        """The task's outcome; copies progress, stops the task on cancel or timeout."""
        deadline = time.monotonic() + self.timeout_s
        checked, stopping, last = time.monotonic(), None, None
        outcome = None
        while True:
            if job.job_id in self._released:
                future.cancel()
                return None
            try:
                outcome = future.result(timeout=0.5)
                break
            except TimeoutError:
                pass
            except KilledWorker:
                raise JobFailed(GAVE_UP) from None
            except concurrent.futures.CancelledError:
                return self._dropped(job)
            last = self._copy_progress(job, last)
            now = time.monotonic()
            if stopping is None:
                if now - checked >= CANCEL_POLL_S:
                    checked = now
                    try:
                        self.check_cancelled(job.job_id)
                    except JobCancelled:
                        stopping = "cancelled"
                if stopping is None and now > deadline:
                    stopping = "timeout"
                if stopping is not None:       # the task kills the runner, keeps the report
                    Variable(stop_name(job.job_id), client=future.client).set(stopping)
                    give_up = now + STOP_GRACE_S
            elif now > give_up:
                future.cancel()
                break
        self._keep_report(job, outcome)
        if stopping == "cancelled":
            raise JobCancelled("Cancelled by the user", job_id=job.job_id)
        if stopping == "timeout":
            raise JobFailed(f"timed out after {self.timeout_s:g} s")
        if not outcome.get("ok"):
            raise JobFailed(outcome.get("error") or "pipeline failed")
        return outcome

    def _dropped(self, job: js.Job) -> None:
        """The cluster dropped the task (the scheduler went away): back to the queue for
        its next attempt (a second time: JobFailed), as after an API crash."""
        if job.job_id in self._released:
            return None
        if job.attempts >= MAX_ATTEMPTS:
            raise JobFailed("the Dask cluster dropped this job twice (scheduler lost)")
        log.warning("the Dask cluster dropped job %s; re-queueing it", job.job_id)
        self._lost = True
        self.jobs.requeue(job.job_id)           # on_complete(None) then leaves it alone
        return None

    def _copy_progress(self, job: js.Job, last):
        with self._events_lock:
            progress = self._events.get(job.job_id)
        if progress and progress != last:
            self.jobs.update(job.job_id, only_if=(js.PROCESSING,), progress=progress)
            return progress
        return last

    def _keep_report(self, job: js.Job, outcome: dict | None) -> None:
        """A stopped or failed run's partial report (uploaded by the task) as the
        ``notebook`` export."""
        key = ((outcome or {}).get("outputs") or {}).get("notebook")
        if key and not (outcome or {}).get("ok"):
            self.jobs.add_export(job.job_id, "notebook", key)

    def on_complete(self, job: js.Job, outcome: dict | None) -> None:
        """Record the exports the task uploaded (results first) and finish the job."""
        if outcome is None:
            return                           # back in the queue (``_dropped``)
        outputs: dict = outcome.get("outputs", {})
        self.finish_with_exports(job, outcome.get("results", {}), list(outputs),
                                 outputs.__getitem__)
