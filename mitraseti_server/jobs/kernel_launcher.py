"""A pooled runner's kernel command: ask the spare factory to fork a warm kernel.

    python -m mitraseti_server.jobs.kernel_launcher -f CONNECTION_FILE

The runner's KernelManager starts this as its kernel, so jupyter_client manages it as
usual (process group, signals, kill). It hands its stdio, environment and working
directory to the factory (``spare_factory``, socket in ``$MITRASETI_SPARE_FACTORY``),
which forks a kernel that is already warm (``spare_factory.request_fork``); the launcher
then forwards signals to that kernel and exits with its exit status
(``spare_factory.ForkedProcess``). The kernel exits when the launcher does (killed
included). Without a factory (variable unset, socket gone) it runs a plain kernel itself.
"""
from __future__ import annotations

import os
import signal
import sys

from mitraseti_server.jobs.spare_factory import FACTORY_VAR, ForkedProcess, request_fork

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2)


def plain_kernel(argv: list[str]) -> None:
    """Replace this process with an ordinary IPython kernel."""
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])


def main(argv: list[str]) -> int:
    path = os.environ.get(FACTORY_VAR)
    if not path:
        plain_kernel(argv)
    request = {"kind": "kernel", "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
               "launcher_pid": os.getpid()}
    try:
        conn, kernel = request_fork(path, request, [0, 1, 2])
    except OSError as exc:
        print(f"spare factory unavailable ({exc}); starting a plain kernel", file=sys.stderr,
              flush=True)
        plain_kernel(argv)

    def forward(signum, _frame) -> None:
        try:
            os.kill(kernel, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    proc = ForkedProcess(conn, kernel)
    status = proc.wait()   # the factory's {"exit": status}, else the pid watched
    if not proc.status_known:
        return 1
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
