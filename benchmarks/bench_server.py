"""Benchmark of the REST service's job path (not a test; prints numbers).

1. submit -> complete (and -> exports ready) for a 2^20-channel x 16-spectrum float32
   observation (64 MiB, uploaded multipart), timed by polling GET /jobs/{id} every 0.1 s;
2. GET /jobs/{id} throughput and latency (p50 / p99) with 50 concurrent clients while a
   job of the same file runs.

    .venv/bin/python benchmarks/bench_server.py [--duration 10] [--clients 50]

Starts its own server (``python -m mitraseti_server serve``) on 127.0.0.1 with a temporary
data dir; the machine's other load affects every number, so report the machine with them.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "mitraseti_server", "serve", "--host",
                             "127.0.0.1", "--port", str(port), "--dashboard-port", "0", "--data-dir", str(data_dir)],
                            stdout=open(data_dir / "server.log", "wb"),
                            stderr=subprocess.STDOUT, cwd=str(REPO), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(url + "/health", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError("server did not start; see " + str(data_dir / "server.log"))


def write_observation(path: Path, nchans: int = 1 << 20, n_spectra: int = 16) -> Path:
    from mitraseti.io import FilWriter, ObservationHeader
    rng = np.random.default_rng(0)
    header = ObservationHeader(nchans=nchans, fch1=8419.2, foff=2.7939677e-6,
                               tsamp=18.253611, n_spectra=n_spectra, source_name="BENCH")
    with FilWriter(path, header) as w:
        for t in range(n_spectra):
            row = rng.normal(10.0, 1.0, size=(1, nchans)).astype(np.float32)
            row[0, nchans // 3 + t] += 40.0            # one drifting tone
            w.write(row)
    return path


def submit(url: str, headers: dict, key: str) -> str:
    r = requests.post(url + "/analyze", json={"file_key": key}, headers=headers, timeout=60)
    r.raise_for_status()
    return r.json()["job_id"]


def time_job(url: str, headers: dict, job_id: str, t0: float) -> dict:
    marks = {}
    while True:
        job = requests.get(f"{url}/jobs/{job_id}", headers=headers, timeout=60).json()
        now = time.perf_counter() - t0
        marks.setdefault(job["status"], now)
        if job["status"] == "failed":
            raise RuntimeError(f"job failed: {job.get('error')}")
        if job["status"] == "complete" and job.get("exports_ready"):
            marks["exports_ready"] = now
            marks["processing_time_seconds"] = job["results"]["processing_time_seconds"]
            return marks
        time.sleep(0.1)


async def hammer(url: str, headers: dict, job_id: str, clients: int, duration: float):
    from tornado.httpclient import AsyncHTTPClient
    AsyncHTTPClient.configure(None, max_clients=clients)
    client = AsyncHTTPClient()
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + duration

    async def worker():
        nonlocal errors
        while time.perf_counter() < stop:
            t = time.perf_counter()
            resp = await client.fetch(f"{url}/jobs/{job_id}", headers=headers,
                                      raise_error=False)
            latencies.append(time.perf_counter() - t)
            errors += resp.code != 200

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, errors, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of GET load")
    ap.add_argument("--clients", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        data.mkdir()
        port = free_port()
        proc = start_server(data, port)
        url = f"http://127.0.0.1:{port}"
        try:
            from mitraseti.client import Client
            from mitraseti_server.auth import create_api_key
            from mitraseti_server.store import Store
            store = Store(data / "mitraseti.db")
            user = store.create_user("bench", "researcher")
            key = create_api_key(store, user.user_id, "bench").api_key
            headers = {"x-api-key": key}
            obs = write_observation(tmp / "bench_2p20x16.fil")
            t = time.perf_counter()
            file_key = Client(url, api_key=key).upload(obs, progress=False)
            upload_s = time.perf_counter() - t
            print(f"observation: 2^20 channels x 16 spectra float32, "
                  f"{obs.stat().st_size / 2**20:.1f} MiB; multipart upload {upload_s:.2f} s")
            t0 = time.perf_counter()
            marks = time_job(url, headers, submit(url, headers, file_key), t0)
            print(f"submit -> processing {marks.get('processing', 0):.2f} s, -> complete "
                  f"{marks['complete']:.2f} s, -> exports ready {marks['exports_ready']:.2f} s"
                  f" (pipeline's own processing_time_seconds "
                  f"{marks['processing_time_seconds']:.2f} s)")
            running = submit(url, headers, file_key)
            lat, errors, wall = asyncio.run(hammer(url, headers, running, args.clients,
                                                   args.duration))
            lat_ms = sorted(x * 1000 for x in lat)
            p99 = lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))]
            status = requests.get(f"{url}/jobs/{running}", headers=headers, timeout=60).json()
            print(f"GET /jobs/{{id}} with {args.clients} concurrent clients for {wall:.1f} s "
                  f"(job {status['status']} at the end): {len(lat) / wall:.0f} requests/s, "
                  f"p50 {statistics.median(lat_ms):.1f} ms, p99 {p99:.1f} ms, "
                  f"{errors} errors")
            time_job(url, headers, running, time.perf_counter())   # let it finish cleanly
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
