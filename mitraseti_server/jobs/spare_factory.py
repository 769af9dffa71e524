"""The spare factory: one warm process per kernel pool that forks spare runners and kernels.

Starting a spare the plain way costs about 3 s of CPU: the runner imports papermill
(nbformat's jsonschema alone takes ~1 s), the kernel imports ipykernel and mitraseti and
loads numba's compiled kernels and the classifier. On a small machine that warm-up runs
beside the job that used the previous spare and slows it down. The factory pays it once:

    python -m mitraseti_server.jobs.runner --factory POOL_DIR --factory-socket PATH \
        --kernel NAME [--die-with-parent PID]

imports everything a runner and a kernel need and runs ``mitraseti.pipeline.preload`` (the
classifier and numba's registries loaded; numba's thread pool is not started, as a child
forked after GNU OpenMP started its threads is killed): ``runner.warm_factory``. Then it
freezes its objects (``gc.freeze``: forks then share its memory pages) and listens on the
Unix socket PATH, which the pool puts in a private temporary folder (short enough for a
socket address; only this user may connect, as a request can run code). Two requests,
one JSON line each with file descriptors passed alongside (SCM_RIGHTS):

* ``spare`` (fds: the spare's stdin, its log): fork a runner in pooled mode
  (``runner.factory_spare``) in a new session, exactly as if started with ``python -m
  mitraseti_server.jobs.runner --slot-dir``, but already warm;
* ``kernel`` (fds: stdin, stdout, stderr of ``kernel_launcher``, which the runner's
  KernelManager starts as its kernel command): fork an IPython kernel on the launcher's
  connection file, with the launcher's environment and working directory. The kernel
  exits when its launcher does.

Each forked process is a copy of the factory, which never runs a job: nothing leaks from
one job to the next. The factory answers ``{"pid": N}`` and, when that child exits,
``{"exit": status}`` (as ``Popen.returncode``) on the same connection, so the server side
(:class:`ForkedProcess`) waits on it like on a ``Popen``. The factory is single-threaded
(it forks), exits when its stdin reaches end-of-file (the pool closed or its owner died)
or, with ``--die-with-parent``, when that process is gone.
"""
from __future__ import annotations

import gc
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

FACTORY_SOCKET = "factory.sock"      # in a private temporary folder (see KernelPool)
FACTORY_READY = "factory.json"        # written once the factory is warm and listening
FACTORY_LOG = "factory.log"
FACTORY_VAR = "MITRASETI_SPARE_FACTORY"   # the socket, in a forked runner's environment
KERNEL_RECORD_VAR = "_mitraseti_warm_up"  # the warm-up record, in a kernel's namespace
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"   # as ipykernel sets it
MAX_MESSAGE = 1 << 20


# ---- the factory process ------------------------------------------------------------------
def serve(pool_dir: Path, socket_path: Path, warm, run_spare, parent: int = 0) -> int:
    """Run ``warm()`` (returns the warm-up record), then serve fork requests on
    ``socket_path`` until stdin closes (or ``parent`` dies). A forked spare runs
    ``run_spare(slot_dir, die_with_factory)`` (``die_with_factory``: ``parent`` was
    given, so the spares die with this process) and exits with its status."""
    from mitraseti.atomic import atomic_write_text

    pool_dir = Path(pool_dir)
    t0 = time.perf_counter()
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)   # the kernels' figures, as ipykernel
    import ipykernel.kernelapp  # noqa: F401 - every kernel's

    record = dict(warm(), forked_from=os.getpid())
    path = Path(socket_path)
    os.environ[FACTORY_VAR] = str(path)          # every spare's kernels come from here
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    gc.collect()
    gc.freeze()
    record.update(pid=os.getpid(), socket=str(path),
                  ready_s=round(time.perf_counter() - t0, 3), done_at=time.time())
    atomic_write_text(pool_dir / FACTORY_READY, json.dumps(record))
    print(f"factory {os.getpid()} warm in {record['ready_s']:.2f} s", flush=True)
    children: dict[int, socket.socket] = {}       # pid -> connection awaiting its exit
    try:
        while True:
            if parent and os.getppid() != parent:
                return 0
            ready, _, _ = select.select([listener, sys.stdin.fileno()], [], [], 0.2)
            if sys.stdin.fileno() in ready and not os.read(sys.stdin.fileno(), 4096):
                return 0                                       # the pool closed
            if listener in ready:
                conn, _ = listener.accept()
                _handle(conn, listener, children, record,
                        lambda slot_dir: run_spare(slot_dir, bool(parent)))
            _reap(children)
    finally:
        listener.close()
        path.unlink(missing_ok=True)


def _handle(conn: socket.socket, listener, children: dict, record: dict, run_spare) -> None:
    """Read one request, fork its child, answer its pid (a bad request: close)."""
    try:
        conn.settimeout(5.0)
        msg, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 4)
        request = json.loads(msg)
        kind = request["kind"]
        if kind not in ("spare", "kernel") or len(fds) != (2 if kind == "spare" else 3):
            raise ValueError(f"bad request {kind!r} with {len(fds)} descriptors")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"factory: unreadable request ({exc})", flush=True)
        conn.close()
        return
    pid = os.fork()
    if pid == 0:                                   # the child never returns
        try:
            listener.close()
            for other in children.values():
                other.close()
            conn.close()
            if kind == "spare":
                status = _be_spare(request, fds, run_spare)
            else:
                status = _be_kernel(request, fds, record)
        except BaseException as exc:  # noqa: BLE001 - report and leave
            print(f"forked {kind} failed: {type(exc).__name__}: {exc}", file=sys.stderr,
                  flush=True)
            status = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)
    for fd in fds:
        os.close(fd)
    try:
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    except OSError:
        pass
    children[pid] = conn


def _reap(children: dict) -> None:
    """Collect exited children and tell each one's requester its exit status."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            try:
                conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)})
                             .encode() + b"\n")
            except OSError:
                pass
            conn.close()


def _adopt(fds: list[int], targets: list[int]) -> None:
    """Make ``fds`` this process's descriptors ``targets`` (0: stdin, 1: stdout, ...)."""
    for fd, target in zip(fds, targets):
        os.dup2(fd, target)
    for fd in set(fds) - set(targets):
        os.close(fd)


def _be_spare(request: dict, fds: list[int], run_spare) -> int:
    """The forked spare runner: its own session, the server's pipe as stdin, its log."""
    os.setsid()
    _adopt([fds[0], fds[1], fds[1]], [0, 1, 2])
    slot_dir = Path(request["slot_dir"])
    os.chdir(slot_dir)
    return run_spare(slot_dir)


def _be_kernel(request: dict, fds: list[int], record: dict) -> int:
    """The forked kernel: the launcher's stdio, environment and working directory; exits
    when the launcher does."""
    os.setsid()
    _adopt(fds, [0, 1, 2])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    exit_with(int(request["launcher_pid"]))
    sys.argv = [sys.argv[0], *request["argv"]]
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(request["argv"])
    app.shell.user_ns[KERNEL_RECORD_VAR] = dict(record, pid=os.getpid(), done_at=time.time())
    app.start()
    return 0


def exit_with(pid: int) -> None:
    """Start a thread that ends this process at once when process ``pid`` exits."""
    import threading

    def watch() -> None:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            os._exit(1)
        select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="launcher-watch").start()


# ---- the pool's side ----------------------------------------------------------------------
def request_fork(socket_path: str | Path, request: dict, fds: list[int],
                 timeout: float = 10.0) -> tuple[socket.socket, int]:
    """Send ``request`` with ``fds`` to the factory; returns (the connection, the child's
    pid). Raises OSError when the factory does not answer."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(timeout)
        conn.connect(str(socket_path))
        socket.send_fds(conn, [json.dumps(request).encode()], fds)
        line = _read_line(conn)
        pid = int(json.loads(line)["pid"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        conn.close()
        raise OSError(f"the spare factory at {socket_path} did not fork: {exc}") from None
    conn.settimeout(None)
    return conn, pid


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


class ForkedProcess:
    """A process forked by the factory, waited on like a ``subprocess.Popen`` (``pid``,
    ``stdin``, ``poll``, ``wait``, ``returncode``) through its factory connection. When the
    factory is gone before the child, the child is watched by pid instead (exit status
    unknown: -1, and ``status_known`` False)."""

    def __init__(self, conn: socket.socket, pid: int, stdin=None, args=None):
        self.conn, self.pid, self.stdin = conn, pid, stdin
        self.args = args or ["forked", str(pid)]
        self.returncode: int | None = None
        self.status_known = True
        self._pidfd: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._check(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self._check(left)
        return self.returncode

    def _check(self, timeout: float | None) -> None:
        if self._pidfd is not None:                    # the factory left before the child
            if select.select([self._pidfd], [], [], timeout)[0]:
                os.close(self._pidfd)
                self._pidfd, self.returncode = None, -1
            return
        if not select.select([self.conn], [], [], timeout)[0]:
            return
        try:
            self.returncode = int(json.loads(_read_line(self.conn))["exit"])
        except (OSError, ValueError, KeyError, TypeError):
            self.status_known = False
            try:
                self._pidfd = os.pidfd_open(self.pid)
            except ProcessLookupError:
                self.returncode = -1
        self.conn.close()
