"""A pooled runner's kernel command: ask the spare factory to fork a warm kernel.

    python -m mitraseti_server.jobs.kernel_launcher -f CONNECTION_FILE

The runner's KernelManager starts this as its kernel, so jupyter_client manages it as
usual (process group, signals, kill). It hands its stdio, environment and working
directory to the factory (``spare_factory``, socket in ``$MITRASETI_SPARE_FACTORY``),
which forks a kernel that is already warm; the launcher then forwards signals to that
kernel and exits with its exit status. The kernel exits when the launcher does (killed
included). Without a factory (variable unset, socket gone) it runs a plain kernel itself.
Only the standard library is imported here: this process starts for every job.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys

FACTORY_VAR = "MITRASETI_SPARE_FACTORY"   # spare_factory.FACTORY_VAR (not imported: cost)
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2)


def plain_kernel(argv: list[str]) -> None:
    """Replace this process with an ordinary IPython kernel."""
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])


def main(argv: list[str]) -> int:
    path = os.environ.get(FACTORY_VAR)
    if not path:
        plain_kernel(argv)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    request = {"kind": "kernel", "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
               "launcher_pid": os.getpid()}
    try:
        conn.settimeout(10.0)
        conn.connect(path)
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        reply = conn.makefile("rb")
        kernel = int(json.loads(reply.readline())["pid"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"spare factory unavailable ({exc}); starting a plain kernel", file=sys.stderr,
              flush=True)
        conn.close()
        plain_kernel(argv)
    def forward(signum, _frame) -> None:
        try:
            os.kill(kernel, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    conn.settimeout(None)
    line = reply.readline()          # the factory's {"exit": status} once the kernel exits
    try:
        status = int(json.loads(line)["exit"])
    except (ValueError, KeyError, TypeError):   # the factory left first: wait on the pid
        import select
        try:
            select.select([os.pidfd_open(kernel)], [], [])
        except ProcessLookupError:
            pass
        status = 1
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
