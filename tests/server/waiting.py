"""Polling helpers for the server tests: wait for a condition, look at a process."""
from __future__ import annotations

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
