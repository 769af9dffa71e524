"""Shared helpers for the jobs-room tests (no tests here).

``LiveServer`` runs the REAL service (``python -m mitraseti_server serve --port 0``) on
127.0.0.1 with a fresh data dir, so tests see exactly what a user sees: real
SQLite file, real blob files, real spawned pipeline processes.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import requests
from dbutil import rows
from waiting import in_parallel

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


class LiveServer:
    """The service as a subprocess; ``url`` is its base URL."""

    def __init__(self, data_dir: Path, config_toml: str = "", database: str | None = None,
                 args: list[str] = (), env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.database = database             # None: the data dir's SQLite file
        self.args = list(args)               # more `serve` flags (--executor, --storage)
        self.env = dict(env or {})           # more environment (AWS_ENDPOINT_URL, ...)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if config_toml:
            (self.data_dir / "config.toml").write_text(config_toml)
        self.port = 0                        # chosen by the OS at each start
        self.url = ""
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir / "server.log"
        self._store = None

    def start(self, timeout: float = 90.0) -> "LiveServer":
        """Start (or restart) the server on port 0 and learn its port from the banner."""
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        env.pop("MITRASETI_DATA_DIR", None)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     env=env, cwd=str(REPO))
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log()}")
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)",
                              self.log_path.read_bytes()[offset:].decode(errors="replace"))
            if found:
                self.port = int(found.group(1))
                self.url = f"http://127.0.0.1:{self.port}"
                try:
                    if requests.get(self.url + "/health", timeout=2).status_code == 200:
                        return self
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer /health within {timeout} s:\n{self.log()}")

    def command(self) -> list[str]:
        """``python -m mitraseti_server serve ...`` (the CLI users run)."""
        return [PYTHON, "-m", "mitraseti_server", "serve", "--host", "127.0.0.1",
                "--port", "0", "--dashboard-port", "0", "--data-dir", str(self.data_dir),
                *(["--database", self.database] if self.database else []), *self.args]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def kill9(self) -> None:
        """SIGKILL the server process only (a crash: its job processes are left behind)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server, then any job process it left running (their own groups)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        for pid in self.runner_pids():
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    def runner_pids(self) -> list[int]:
        """Live executor_runner processes working for this server's data dir."""
        marker = str(self.data_dir / "work").encode()
        pids = []
        for cmd in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv = cmd.read_bytes().split(b"\0")
            except OSError:
                continue
            if b"mitraseti_server.jobs.runner" in argv and any(
                    a.startswith(marker) for a in argv):
                pids.append(int(cmd.parent.name))
        return pids

    # ---- accounts (through the platform's own store and auth modules) -------------
    @property
    def store(self):
        if self._store is None:
            from mitraseti_server.storage.database import Store
            self._store = Store(self.database or self.data_dir / "mitraseti.db")
        return self._store

    def config(self):
        from mitraseti_server.config import ServiceConfig
        return ServiceConfig.load(data_dir=self.data_dir, env={})

    def user(self, name: str, tier: str) -> dict:
        """A new user; returns headers for it: x-api-key (researcher+) or a Bearer JWT."""
        from mitraseti_server.auth.keys import create_api_key
        user = self.store.create_user(name, tier)
        if tier == "free":             # web only: no API keys on the free tier
            headers = self.bearer(user)
            key = None
        else:
            key = create_api_key(self.store, user.user_id, "tests").api_key
            headers = {"x-api-key": key}
        return {"user": user, "headers": headers, "api_key": key}

    def bearer(self, user) -> dict:
        """Headers with a locally signed JWT for ``user`` (works on every tier)."""
        from mitraseti_server.auth.tokens import issue_token
        return {"Authorization": f"Bearer {issue_token(self.config(), user)}"}

    def secret(self) -> bytes:
        return (self.data_dir / "secret.key").read_bytes()

    def job_row(self, job_id: str) -> dict:
        found = rows(self.store, "SELECT * FROM jobs WHERE job_id=:id", id=job_id)
        return found[0] if found else None


# ---- observations ---------------------------------------------------------------------
def write_observation(path: Path, nchans: int = 1024, n_spectra: int = 16,
                      tone_channel: int | None = None, drift_channels: float = 4.0,
                      tone_level: float = 3.0, seed: int = 1, foff_hz: float = 2.7939677,
                      tsamp: float = 18.253611) -> Path:
    """A Voyager-like SIGPROC file: chi-square-ish noise plus one drifting tone.

    The tone starts at ``tone_channel`` (default nchans // 3) and moves ``drift_channels``
    channels over the observation (positive foff, so frequency rises)."""
    from mitraseti.io import ObservationHeader, write_fil

    rng = np.random.default_rng(seed)
    data = rng.normal(10.0, 1.0, size=(n_spectra, nchans)).astype(np.float32)
    c0 = nchans // 3 if tone_channel is None else tone_channel
    for t in range(n_spectra):
        c = int(round(c0 + drift_channels * t / max(n_spectra - 1, 1)))
        data[t, c] += tone_level * 10.0
    header = ObservationHeader(nchans=nchans, fch1=8419.2, foff=foff_hz / 1e6, tsamp=tsamp,
                               n_spectra=n_spectra, source_name="SYNTH_TONE",
                               telescope_id=6, machine_id=10)
    write_fil(path, header, data)
    return path


def write_large_observation(path: Path, nchans: int = 1 << 20, n_spectra: int = 13,
                            seed: int = 2) -> Path:
    """A > 50 MB float32 file (2^20 channels x 13 spectra = 54.5 MB) of noise + a tone,
    written in blocks so memory stays small."""
    from mitraseti.io import FilWriter, ObservationHeader

    rng = np.random.default_rng(seed)
    header = ObservationHeader(nchans=nchans, fch1=8419.2, foff=2.7939677e-6,
                               tsamp=18.253611, n_spectra=n_spectra,
                               source_name="SYNTH_LARGE", telescope_id=6)
    with FilWriter(path, header) as w:
        for t in range(n_spectra):
            row = rng.normal(10.0, 1.0, size=(1, nchans)).astype(np.float32)
            row[0, nchans // 2 + t] += 30.0
            w.write(row)
    return path


def upload(server: LiveServer, headers: dict, path: Path) -> str:
    """Upload through the API (single or multipart, like the reference's Python example);
    returns the file_key."""
    size = path.stat().st_size
    plan = requests.post(server.url + "/upload-url", headers=headers,
                         json={"filename": path.name, "file_size": size}, timeout=60)
    assert plan.status_code == 200, plan.text
    plan = plan.json()
    if plan.get("multipart"):
        parts = []
        with open(path, "rb") as f:
            for part in plan["parts"]:
                r = requests.put(part["url"], data=f.read(plan["part_size"]), timeout=120)
                assert r.status_code == 200, r.text
                parts.append({"partNumber": part["partNumber"], "etag": r.headers["ETag"]})
        r = requests.post(server.url + "/complete-upload", headers=headers, timeout=120,
                          json={"file_key": plan["file_key"], "upload_id": plan["upload_id"],
                                "parts": parts})
        assert r.status_code == 200, r.text
    else:
        with open(path, "rb") as f:
            r = requests.put(plan["upload_url"], data=f, timeout=120,
                             headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.text
    return plan["file_key"]


def submit_together(servers: list[LiveServer], headers: dict, file_key: str,
                    n: int) -> list[requests.Response]:
    """``n`` POST /analyze of ``file_key`` released at once from ``n`` threads, spread
    round-robin over ``servers``; the answers in request order."""
    return in_parallel(n, lambda i: requests.post(
        servers[i % len(servers)].url + "/analyze", timeout=120,
        json={"file_key": file_key}, headers=headers), join_s=180.0)


def wait_job(server: LiveServer, headers: dict, job_id: str, timeout: float = 180.0,
             exports: bool = False, until=("complete", "failed")) -> dict:
    """Poll GET /jobs/{id} until its status is in ``until`` (and exports are ready)."""
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        job = requests.get(f"{server.url}/jobs/{job_id}", headers=headers, timeout=30).json()
        if job["status"] in until and (not exports or job["status"] != "complete"
                                       or job.get("exports_ready")):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job and job['status']} after {timeout} s; "
                         f"server log:\n{server.log()}")
