"""Helpers for the server tests: wait for a condition, look at a process, start calls
together."""
from __future__ import annotations

import threading
import time
from pathlib import Path


def wait_for(pred, timeout: float = 60.0, every: float = 0.05):
    """``pred()``'s first truthy value, polled every ``every`` s; AssertionError after
    ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not reached in time")


def alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def in_parallel(n: int, call, join_s: float = 120.0) -> list:
    """``call(i)`` on ``n`` threads released together; results or exceptions."""
    barrier, out = threading.Barrier(n), [None] * n

    def run(i):
        barrier.wait()
        try:
            out[i] = call(i)
        except Exception as exc:  # noqa: BLE001 - returned for the assertions
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(join_s)
    return out
