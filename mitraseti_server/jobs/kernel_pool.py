"""Pre-started, pre-warmed pipeline kernels for the local executor (as Voila preheats kernels).

Design: the pool holds ``size`` *spare runners*. A spare is a
``python -m mitraseti_server.jobs.runner --slot-dir DIR`` process in its own process
group that starts ONE Jupyter kernel, runs :func:`mitraseti.pipeline.warm_up` in it (every
import, numba's compiled kernels loaded from its on-disk cache, the classifier loaded),
writes ``DIR/ready.json`` and then waits for one job as a JSON line on its stdin. A job
takes the oldest ready spare (else the one furthest into its warm-up); from then on the
spare is that job's runner exactly like a freshly spawned one: its pid is the job row's
pid, the executor polls its progress file and kills its process group and its kernel on
timeout, and it runs the pipeline notebook through papermill on the warm kernel. After the
job the runner shuts its kernel down and exits, and the executor starts a replacement in
the background: no kernel ever runs a second job, so nothing leaks between users.

Why spare processes rather than kernels owned by the server process: papermill changes the
process-wide working directory and runs its own event loop, which a threaded Tornado
server must not share; each job keeps its own process group, so a timeout or shutdown
still kills everything the job started; the job row's pid keeps naming a runner, so restart
reconciliation is unchanged (``is_runner_of`` also accepts a pooled runner whose working
directory is the job's work directory, which it enters as soon as it receives the job).
A spare's stdin is a pipe from the server: when the server dies or closes the pool, an idle
spare reads end-of-file and exits with its kernel; a runner that already holds a job keeps
running (the restarted server kills it and re-queues the job, as before).

The second half of this module (``WarmKernel``) runs inside the spare runner process.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from mitraseti.atomic import atomic_write_text

log = logging.getLogger("mitraseti_server.kernel_pool")
RUNNER_MODULE = "mitraseti_server.jobs.runner"   # the job runner, run with python -m

POOL_DIR = "_pool"               # under the executor's work dir
READY_FILE = "ready.json"        # written by the spare once its kernel is warm
KERNEL_FILE = "kernel.json"      # written by the spare as soon as its kernel has started
RUNNER_LOG = "runner.log"
WARM_UP_VAR = "_mitraseti_warm_up"   # the warm-up's record, in the kernel's namespace


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj))


def kill_group(pid: int | None) -> None:
    """SIGKILL the process group led by ``pid`` (no error when it is gone)."""
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_kernel(slot_dir: Path) -> None:
    """Kill the kernel a spare in ``slot_dir`` started (its own session), if it still runs:
    the pid is checked against the kernel's command line, which names its connection file
    in ``slot_dir``."""
    info = read_json(slot_dir / KERNEL_FILE) or {}
    pid = info.get("pid")
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if pid else b""
    except OSError:
        return
    if str(slot_dir).encode() in cmdline:
        kill_group(int(pid))


# ---- server side ------------------------------------------------------------------------
class Spare:
    """One spare runner process and its slot directory."""

    def __init__(self, slot_dir: Path, kernel_name: str, die_with_parent: bool = False):
        self.slot_dir = slot_dir
        self.started_at = time.time()
        slot_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", RUNNER_MODULE,
               "--slot-dir", str(slot_dir), "--kernel", kernel_name]
        if die_with_parent:
            cmd += ["--die-with-parent", str(os.getpid())]
        with open(slot_dir / RUNNER_LOG, "wb") as logf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=str(slot_dir))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def info(self) -> dict | None:
        """The spare's ready.json (kernel id and pid, start and warm-up times), or None."""
        return read_json(self.slot_dir / READY_FILE)

    def assign(self, spec: dict) -> None:
        """Hand the job over (one JSON line, then end-of-file). Raises OSError when the
        spare has died."""
        try:
            self.proc.stdin.write(json.dumps(spec).encode() + b"\n")
            self.proc.stdin.close()
        except ValueError as exc:          # stdin already closed
            raise OSError(str(exc)) from None

    def kill(self) -> None:
        """Kill the runner's process group (unless already reaped: its pid may be reused)
        and its kernel."""
        if self.proc.returncode is None:
            kill_group(self.proc.pid)
        kill_kernel(self.slot_dir)

    def discard(self) -> None:
        """After its job (or when dropped): kill whatever is left, reap it, remove the slot."""
        self.kill()
        try:
            self.proc.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("spare runner %d did not exit", self.proc.pid)
        shutil.rmtree(self.slot_dir, ignore_errors=True)


class KernelPool:
    """``size`` spare runners under ``pool_dir``; thread-safe. ``die_with_parent``: the
    spares (and the jobs they take) die with this process (a Dask worker's pool)."""

    def __init__(self, pool_dir: Path, size: int, kernel_name: str,
                 die_with_parent: bool = False):
        self.pool_dir = Path(pool_dir)
        self.size = int(size)
        self.kernel_name = kernel_name
        self.die_with_parent = die_with_parent
        self._spares: list[Spare] = []
        self._lock = threading.Lock()
        self._closed = True

    def start(self) -> None:
        """Remove slots left by a previous server (its idle spares exit on their own) and
        start ``size`` spares."""
        shutil.rmtree(self.pool_dir, ignore_errors=True)
        self._closed = False
        self.fill()

    def fill(self) -> int:
        """Start spares until ``size`` are alive; returns how many were started."""
        started = 0
        with self._lock:
            self._drop_dead()
            while not self._closed and len(self._spares) < self.size:
                slot = self.pool_dir / uuid.uuid4().hex[:12]
                try:
                    self._spares.append(Spare(slot, self.kernel_name,
                                              self.die_with_parent))
                except OSError:
                    log.exception("could not start a spare runner")
                    break
                started += 1
        return started

    def take(self) -> Spare | None:
        """The oldest ready spare, else the oldest still warming, else None; the caller
        owns it (``assign`` a job, ``discard`` it after) and calls ``fill`` afterwards."""
        with self._lock:
            self._drop_dead()
            if not self._spares:
                return None
            ready = [s for s in self._spares if s.info() is not None]
            spare = (ready or self._spares)[0]
            self._spares.remove(spare)
            return spare

    def spares(self) -> list[Spare]:
        with self._lock:
            self._drop_dead()
            return list(self._spares)

    def ready_count(self) -> int:
        return sum(1 for s in self.spares() if s.info() is not None)

    def close(self) -> None:
        """Kill every spare (jobs already handed over are the executor's business)."""
        with self._lock:
            self._closed = True
            spares, self._spares = self._spares, []
        for spare in spares:
            spare.discard()

    def _drop_dead(self) -> None:
        for spare in [s for s in self._spares if not s.alive()]:
            log.warning("spare runner %d exited (status %s) before getting a job; its log "
                        "ends: %s", spare.pid, spare.proc.returncode, _tail(spare))
            self._spares.remove(spare)
            spare.discard()


def _tail(spare: Spare, n: int = 600) -> str:
    try:
        return (spare.slot_dir / RUNNER_LOG).read_bytes()[-n:].decode(errors="replace")
    except OSError:
        return ""


# ---- runner side (inside the spare process) ----------------------------------------------
WARM_UP_CODE = f"""
import os as _os, time as _time
from mitraseti.pipeline import warm_up as _warm_up
{WARM_UP_VAR} = {{"seconds": _warm_up(), "pid": _os.getpid(), "done_at": _time.time()}}
del _os, _time, _warm_up
"""


class WarmKernel:
    """One kernel started in ``slot_dir`` (connection file there too) and warmed up."""

    def __init__(self, slot_dir: Path, kernel_name: str):
        self.slot_dir = Path(slot_dir)
        self.kernel_name = kernel_name
        self.km = None
        self.record: dict = {}

    def start(self) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        kernel_id = str(uuid.uuid4())
        self.km = AsyncKernelManager(kernel_name=self.kernel_name, kernel_id=kernel_id)
        self.km.connection_file = str(self.slot_dir / f"kernel-{kernel_id}.json")
        started = time.time()
        run_sync(self.km.start_kernel)(cwd=str(self.slot_dir))
        pid = getattr(self.km.provisioner, "pid", None)
        self.record = {"kernel_id": kernel_id, "kernel_pid": pid, "started_at": started}
        write_json_atomic(self.slot_dir / KERNEL_FILE, {"pid": pid, "kernel_id": kernel_id})

    def warm_up(self, before_ready=None) -> None:
        """Run the warm-up in the kernel (raises RuntimeError when it fails there), call
        ``before_ready()``, then write ready.json."""
        self.execute(WARM_UP_CODE)
        if before_ready is not None:
            before_ready()
        self.record["warmed_at"] = time.time()
        write_json_atomic(self.slot_dir / READY_FILE, self.record)

    def prepare(self, out_dir: Path) -> dict:
        """Enter the job's directory in the kernel; returns the record of this kernel,
        including the warm-up record read back from the kernel's own namespace."""
        got = self.execute(f"import os as _os; _os.chdir({str(out_dir)!r}); del _os",
                           expressions={"warm": f"globals().get({WARM_UP_VAR!r})"})
        value = got.get("warm", {})
        text = value.get("data", {}).get("text/plain", "None")
        import ast
        try:
            warm = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            warm = None
        return dict(self.record, warm_up=warm, job_received_at=time.time())

    def execute(self, code: str, expressions: dict | None = None) -> dict:
        """Run ``code`` silently (no history, no execution count); returns the evaluated
        ``expressions``. Raises RuntimeError with the kernel's error."""
        from jupyter_core.utils import run_sync

        async def go():
            kc = self.km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=120)
                return await kc.execute_interactive(
                    code, silent=False, store_history=False,
                    user_expressions=expressions or {}, allow_stdin=False)
            finally:
                kc.stop_channels()

        reply = run_sync(go)()["content"]
        if reply.get("status") != "ok":
            raise RuntimeError(f"{reply.get('ename')}: {reply.get('evalue')}")
        return reply.get("user_expressions", {})

    def shutdown(self) -> None:
        if self.km is None:
            return
        from jupyter_core.utils import run_sync
        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - the process group is killed anyway
            kill_kernel(self.slot_dir)
        self.km = None


def warm_runner(slot_dir: Path, kernel_name: str) -> None:
    """Warm the runner process itself: import papermill and the pipeline, look the kernel
    spec up, and write and read back a one-cell notebook (nbformat's first validation
    loads its schema: seconds)."""
    import nbformat
    import papermill  # noqa: F401
    from jupyter_client.kernelspec import KernelSpecManager

    from mitraseti import pipeline  # noqa: F401

    KernelSpecManager().get_kernel_spec(kernel_name)
    path = slot_dir / "warm-up.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), str(path))
    nbformat.read(str(path), as_version=4)


def add_kernel_record(report: Path, record: dict) -> None:
    """Keep which pre-warmed kernel ran the job in the report's metadata (``mitraseti``)."""
    import nbformat

    nb = nbformat.read(str(report), as_version=4)
    nb.metadata.setdefault("mitraseti", {})["kernel"] = record
    tmp = report.with_name(f".{report.name}.{os.getpid()}.tmp")
    nbformat.write(nb, str(tmp))
    os.replace(tmp, report)
