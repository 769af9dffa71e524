"""A real MitraSETI REST service in a subprocess, for dashboard and browser tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveService:
    """``python -m mitraseti_server serve`` on a free port with its own data dir."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "server.log"
        self.proc: subprocess.Popen | None = None

    def _cli(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "mitraseti_server", *args,
                              "--data-dir", str(self.data_dir)], capture_output=True,
                             text=True, timeout=60)
        if out.returncode:
            raise RuntimeError(f"mitraseti_server {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    def start(self, timeout: float = 60.0) -> "LiveService":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.pop("MITRASETI_DATA_DIR", None)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mitraseti_server", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--dashboard-port", "0", "--data-dir", str(self.data_dir)],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if requests.get(f"{self.url}/health", timeout=5).ok:
                        return self
                except requests.RequestException:  # not listening yet, or busy starting
                    time.sleep(0.2)
        except BaseException:
            self.stop()
            raise
        self.stop()
        raise RuntimeError(f"service did not start:\n{self.log_path.read_text()}")

    def create_user(self, name: str, tier: str = "researcher") -> str:
        """Create a user with the admin CLI; returns its API key."""
        out = self._cli("admin", "create-user", name, "--tier", tier)
        return next(line.split(":", 1)[1].strip() for line in out.splitlines()
                    if line.startswith("api_key:"))

    def token(self, name: str) -> str:
        return self._cli("admin", "token", name).strip()

    def stop(self) -> None:
        """Stop the service and the job processes it started (its process group)."""
        stop_process_group(self.proc, timeout=15)


def stop_process_group(proc: subprocess.Popen | None, timeout: float) -> None:
    """SIGTERM the process group led by ``proc`` and wait; SIGKILL it after ``timeout`` s
    (nothing when it has already exited)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass


def small_observation(path: Path, n_chans: int = 4096, seed: int = 5) -> Path:
    """A tiny .fil with one strong drifting tone (for quick jobs)."""
    from mitraseti.io import write_fil
    from mitraseti.synth import NarrowbandSignal, make_observation

    obs = make_observation(n_spectra=16, n_chans=n_chans, seed=seed,
                           signals=[NarrowbandSignal(channel=0.35 * n_chans + 0.3,
                                                     drift_rate=0.5, snr=80.0)])
    write_fil(path, obs.header, obs.data)
    return path
