"""Pre-started, pre-warmed pipeline kernels for the local executor (as Voila preheats kernels).

Design: the pool holds ``size`` *spare runners*. A spare is a runner process in pooled
mode (``runner.serve_one_job``, its own session and process group) that starts ONE Jupyter
kernel, runs :func:`mitraseti.pipeline.warm_up` in it (every import, numba's compiled
kernels loaded from its on-disk cache, the classifier loaded), writes ``DIR/ready.json``
and then waits for one job as a JSON line on its stdin. Spares and their kernels are
forked by the pool's spare factory (``spare_factory``: imports and most of the warm-up
done once), or, without one, started as ``python -m mitraseti_server.jobs.runner
--slot-dir DIR`` processes. A job
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
import tempfile
import threading
import time
import uuid
from pathlib import Path

from mitraseti.atomic import atomic_write_text
from mitraseti_server.jobs.spare_factory import (FACTORY_LOG, FACTORY_READY, FACTORY_SOCKET,
                                                 FACTORY_VAR, KERNEL_RECORD_VAR,
                                                 ForkedProcess, request_fork)

log = logging.getLogger("mitraseti_server.kernel_pool")
RUNNER_MODULE = "mitraseti_server.jobs.runner"   # the job runner, run with python -m

POOL_DIR = "_pool"               # under the executor's work dir
READY_FILE = "ready.json"        # written by the spare once its kernel is warm
KERNEL_FILE = "kernel.json"      # written by the spare as soon as its kernel has started
RUNNER_LOG = "runner.log"
LAUNCHER_MODULE = "mitraseti_server.jobs.kernel_launcher"


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
def start_cold_runner(job: dict, kernel_name: str,
                      die_with_parent: bool = False) -> subprocess.Popen:
    """A new runner process for one job when no spare is at hand: it starts its own
    kernel. ``job`` has the keys a spare is assigned (input, out_dir, params, job_id);
    the runner's output goes to ``out_dir/_runner.log``."""
    out_dir = Path(job["out_dir"])
    cmd = [sys.executable, "-m", RUNNER_MODULE, "--input", job["input"],
           "--out-dir", str(out_dir), "--params", json.dumps(job["params"]),
           "--kernel", kernel_name, "--job-id", job["job_id"]]
    if die_with_parent:
        cmd += ["--die-with-parent", str(os.getpid())]
    with open(out_dir / "_runner.log", "wb") as logf:
        return subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=str(out_dir))


class Spare:
    """One spare runner process and its slot directory."""

    def __init__(self, slot_dir: Path, kernel_name: str, die_with_parent: bool = False,
                 factory: Path | None = None):
        """Start the spare: forked by the spare factory listening on ``factory`` when
        given (falls back to a new process when it does not answer), else a new
        ``python -m mitraseti_server.jobs.runner --slot-dir`` process."""
        self.slot_dir = slot_dir
        self.started_at = time.time()
        slot_dir.mkdir(parents=True, exist_ok=True)
        self.forked = False
        if factory is not None:
            try:
                self.proc = self._fork(factory)
                self.forked = True
                return
            except OSError as exc:
                log.warning("%s; starting a spare runner process instead", exc)
        cmd = [sys.executable, "-m", RUNNER_MODULE,
               "--slot-dir", str(slot_dir), "--kernel", kernel_name]
        if die_with_parent:
            cmd += ["--die-with-parent", str(os.getpid())]
        with open(slot_dir / RUNNER_LOG, "wb") as logf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=str(slot_dir))

    def _fork(self, factory: Path) -> ForkedProcess:
        """Ask the factory for a spare runner: its stdin is a pipe from here, as with Popen
        (whether it dies with its owner is the factory's own setting)."""
        read_end, write_end = os.pipe()
        try:
            with open(self.slot_dir / RUNNER_LOG, "wb") as logf:
                conn, pid = request_fork(factory, {"kind": "spare",
                                                   "slot_dir": str(self.slot_dir)},
                                         [read_end, logf.fileno()])
        except OSError:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        return ForkedProcess(conn, pid, stdin=os.fdopen(write_end, "wb"))

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
    """``size`` spare runners under ``pool_dir``, forked by one spare factory
    (``spare_factory``) once it is warm; thread-safe. ``die_with_parent``: the factory,
    the spares and the jobs they take die with this process (a Dask worker's pool)."""

    FACTORY_WAIT_S = 120.0   # spares start as plain processes when it is not warm by then

    def __init__(self, pool_dir: Path, size: int, kernel_name: str,
                 die_with_parent: bool = False):
        self.pool_dir = Path(pool_dir)
        self.size = int(size)
        self.kernel_name = kernel_name
        self.die_with_parent = die_with_parent
        self._spares: list[Spare] = []
        self._lock = threading.Lock()
        self._closed = True
        self._factory: subprocess.Popen | None = None
        self._factory_deadline = 0.0
        self._socket_dir: Path | None = None

    def start(self) -> None:
        """Remove slots left by a previous server (its idle spares exit on their own),
        start the spare factory, and start ``size`` spares once it is warm."""
        shutil.rmtree(self.pool_dir, ignore_errors=True)
        self.pool_dir.mkdir(parents=True, exist_ok=True)
        self._closed = False
        self._start_factory()
        threading.Thread(target=self._fill_when_warm, daemon=True,
                         name="spare-factory-wait").start()

    @property
    def factory_socket(self) -> Path | None:
        return self._socket_dir / FACTORY_SOCKET if self._socket_dir is not None else None

    def _start_factory(self) -> None:
        # a private folder (0700) under the temporary directory: a socket address must be
        # short (a Dask worker's folder is not), and only this user may ask for a fork
        self._socket_dir = Path(tempfile.mkdtemp(prefix="mitraseti-spares-"))
        cmd = [sys.executable, "-m", RUNNER_MODULE, "--factory", str(self.pool_dir),
               "--factory-socket", str(self.factory_socket), "--kernel", self.kernel_name]
        if self.die_with_parent:
            cmd += ["--die-with-parent", str(os.getpid())]
        try:
            with open(self.pool_dir / FACTORY_LOG, "wb") as logf:
                self._factory = subprocess.Popen(
                    cmd, stdin=subprocess.PIPE, stdout=logf, stderr=subprocess.STDOUT,
                    start_new_session=True, cwd=str(self.pool_dir))
            self._factory_deadline = time.monotonic() + self.FACTORY_WAIT_S
        except OSError:
            log.exception("could not start the spare factory; spares start as processes")
            self._factory = None

    def factory_state(self) -> str:
        """'ready' (warm and listening), 'starting', or 'off' (spares start as processes)."""
        proc = self._factory
        if proc is None or proc.poll() is not None:
            return "off"
        if (self.pool_dir / FACTORY_READY).exists() and self.factory_socket.exists():
            return "ready"
        return "starting" if time.monotonic() < self._factory_deadline else "off"

    def _fill_when_warm(self) -> None:
        while not self._closed and self.factory_state() == "starting":
            time.sleep(0.05)
        if self._factory is not None and self._factory.poll() is not None:
            log.warning("the spare factory exited (status %s); spares start as processes. "
                        "Its log ends: %s", self._factory.returncode,
                        _tail_file(self.pool_dir / FACTORY_LOG))
        self.fill()

    def fill(self) -> int:
        """Start spares until ``size`` are alive (not while the factory warms up: it fills
        the pool once warm); returns how many were started."""
        state = self.factory_state()
        if state == "starting":
            return 0
        factory = self.factory_socket if state == "ready" else None
        started = 0
        with self._lock:
            self._drop_dead()
            while not self._closed and len(self._spares) < self.size:
                slot = self.pool_dir / uuid.uuid4().hex[:12]
                try:
                    self._spares.append(Spare(slot, self.kernel_name,
                                              self.die_with_parent, factory))
                except OSError:
                    log.exception("could not start a spare runner")
                    break
                started += 1
        return started

    def take(self) -> Spare | None:
        """The oldest ready spare, else the oldest still warming, else (the factory
        ready) a spare forked now, else None; the caller owns it (``assign`` a job,
        ``discard`` it after) and calls ``fill`` afterwards. While the factory warms up
        with no spare yet, waits for it (a cold runner would take longer)."""
        filled = False
        while True:
            with self._lock:
                self._drop_dead()
                if self._spares:
                    ready = [s for s in self._spares if s.info() is not None]
                    spare = (ready or self._spares)[0]
                    self._spares.remove(spare)
                    return spare
            state = self.factory_state()
            if self._closed or state == "off" or (state == "ready" and filled):
                return None
            if state == "ready":
                self.fill()
                filled = True
            else:
                time.sleep(0.05)

    def spares(self) -> list[Spare]:
        with self._lock:
            self._drop_dead()
            return list(self._spares)

    def ready_count(self) -> int:
        return sum(1 for s in self.spares() if s.info() is not None)

    def close(self) -> None:
        """Kill every spare and the factory (jobs already handed over are the executor's
        business)."""
        with self._lock:
            self._closed = True
            spares, self._spares = self._spares, []
        for spare in spares:
            spare.discard()
        factory, self._factory = self._factory, None
        if factory is not None:
            if factory.returncode is None:
                kill_group(factory.pid)
            try:
                factory.stdin.close()
            except OSError:
                pass
            try:
                factory.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log.warning("spare factory %d did not exit", factory.pid)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    def _drop_dead(self) -> None:
        for spare in [s for s in self._spares if not s.alive()]:
            log.warning("spare runner %d exited (status %s) before getting a job; its log "
                        "ends: %s", spare.pid, spare.proc.returncode, _tail(spare))
            self._spares.remove(spare)
            spare.discard()


def _tail(spare: Spare, n: int = 600) -> str:
    return _tail_file(spare.slot_dir / RUNNER_LOG, n)


def _tail_file(path: Path, n: int = 600) -> str:
    try:
        return path.read_bytes()[-n:].decode(errors="replace")
    except OSError:
        return ""


# ---- runner side (inside the spare process) ----------------------------------------------
# a forked kernel already holds the factory's record (imports and preload done there):
# the warm-up then only runs the small pipeline that loads numba's threaded kernels
WARM_UP_CODE = f"""
import os as _os, time as _time
from mitraseti.pipeline import warm_up as _warm_up
_record = globals().get({KERNEL_RECORD_VAR!r}) or {{}}
{KERNEL_RECORD_VAR} = dict(_record, seconds=dict(_record.get("seconds", {{}}), **_warm_up()),
                     pid=_os.getpid(), done_at=_time.time())
del _os, _time, _warm_up, _record
"""


class WarmKernel:
    """One kernel started in ``slot_dir`` (connection file there too) and warmed up."""

    def __init__(self, slot_dir: Path, kernel_name: str):
        self.slot_dir = Path(slot_dir)
        self.kernel_name = kernel_name
        self.km = None
        self.forked = False
        self.record: dict = {}

    def start(self) -> None:
        """Start the kernel: forked warm by the spare factory when this runner came from
        one (``$MITRASETI_SPARE_FACTORY``; the kernel command is then ``kernel_launcher``),
        else the kernel spec's own command."""
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        from mitraseti_server.jobs.kernel_client import PromptKernelClient

        kernel_id = str(uuid.uuid4())
        self.km = AsyncKernelManager(kernel_name=self.kernel_name, kernel_id=kernel_id,
                                     client_factory=PromptKernelClient)
        self.km.connection_file = str(self.slot_dir / f"kernel-{kernel_id}.json")
        self.forked = bool(os.environ.get(FACTORY_VAR))
        if self.forked:
            self.km.kernel_spec.argv = [sys.executable, "-m", LAUNCHER_MODULE,
                                        "-f", "{connection_file}"]
        started = time.time()
        run_sync(self.km.start_kernel)(cwd=str(self.slot_dir))
        pid = getattr(self.km.provisioner, "pid", None)
        self.record = {"kernel_id": kernel_id, "kernel_pid": pid, "started_at": started}
        write_json_atomic(self.slot_dir / KERNEL_FILE, {"pid": pid, "kernel_id": kernel_id})

    def warm_up(self, before_ready=None) -> None:
        """Run the warm-up in the kernel (raises RuntimeError when it fails there; a
        forked kernel has imported everything already and only loads numba's threaded
        kernels, ~0.4 s), call ``before_ready()``, then write ready.json."""
        got = self.execute(WARM_UP_CODE, expressions={"pid": "__import__('os').getpid()"})
        if self.forked:    # the kernel is the factory's child, not the launcher we started
            self.record["launcher_pid"] = self.record["kernel_pid"]
            self.record["kernel_pid"] = int(got["pid"]["data"]["text/plain"])
        if before_ready is not None:
            before_ready()
        self.record["warmed_at"] = time.time()
        write_json_atomic(self.slot_dir / READY_FILE, self.record)

    def prepare(self, out_dir: Path) -> dict:
        """Enter the job's directory in the kernel; returns the record of this kernel,
        including the warm-up record read back from the kernel's own namespace."""
        got = self.execute(f"import os as _os; _os.chdir({str(out_dir)!r}); del _os",
                           expressions={"warm": f"globals().get({KERNEL_RECORD_VAR!r})"})
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
