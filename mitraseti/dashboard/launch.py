"""Run the dashboard with Voila beside the standalone REST service (``mitraseti serve``).

Used by ``mitraseti serve`` (and so ``make run``) and by the Jupyter extension; it only
starts a ``voila`` subprocess, so the core stays free of web-server imports.

    proc = start_voila("http://127.0.0.1:8000", port=8866)
    print(dashboard_url(8866))           # http://127.0.0.1:8866/
    ...
    stop_voila(proc)
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_PORT = 8866


def dashboard_notebook() -> Path | None:
    """notebooks/dashboard.ipynb of the source tree, or the installed copy
    (``<prefix>/share/mitraseti/notebooks``); None when neither exists."""
    from mitraseti.notebooks import find_notebook

    return find_notebook("dashboard.ipynb")


def dashboard_path() -> Path:
    """notebooks/dashboard.ipynb (source tree or installed copy); FileNotFoundError if
    neither exists."""
    path = dashboard_notebook()
    if path is None:
        raise FileNotFoundError("notebooks/dashboard.ipynb not found in the source tree nor "
                                "in <prefix>/share/mitraseti/notebooks")
    return path


def voila_command(port: int, notebook: Path, host: str = "127.0.0.1") -> list[str]:
    return [sys.executable, "-m", "voila", str(notebook), f"--port={int(port)}",
            "--no-browser", f"--Voila.ip={host}"]


def dashboard_url(port: int, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{int(port)}/"


def start_voila(api_url: str, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
                log_path: str | os.PathLike | None = None, env: dict | None = None
                ) -> subprocess.Popen:
    """Start ``voila notebooks/dashboard.ipynb`` on ``host:port`` with MITRASETI_API_URL set
    to ``api_url``; returns the process (its own process group, so stop_voila ends its
    kernels too). Output goes to ``log_path`` (default: inherited)."""
    notebook = dashboard_path()
    child_env = dict(os.environ if env is None else env)
    child_env["MITRASETI_API_URL"] = api_url.rstrip("/")
    out = open(log_path, "ab") if log_path else None
    try:
        return subprocess.Popen(voila_command(port, notebook, host), env=child_env,
                                cwd=str(notebook.parent), stdout=out,
                                stderr=subprocess.STDOUT if out else None,
                                start_new_session=True)
    finally:
        if out is not None:
            out.close()


def wait_until_up(port: int, host: str = "127.0.0.1", timeout: float = 60.0,
                  proc: subprocess.Popen | None = None) -> bool:
    """Poll until Voila accepts connections on ``host:port`` (True) or ``timeout`` s pass
    (False). Only connects: a GET of the page would start a dashboard kernel."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def stop_voila(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop Voila and its kernels (the whole process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=timeout)
