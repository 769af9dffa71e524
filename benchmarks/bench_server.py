"""Benchmark of the REST service's job path (not a test; prints numbers).

0. the CLI's whole-process time on the same file (``mitraseti analyze FILE --out DIR -q`` in
   a fresh process, every export), the target the REST path is compared with;
1. submit -> complete (and -> exports ready) for a 2^20-channel x 16-spectrum float32
   observation (64 MiB, uploaded multipart), timed by polling GET /jobs/{id} every 0.1 s,
   for one job and for 5 back-to-back jobs (each submitted when the previous one is
   complete with its exports), with jobs/hour; the server's kernel pool is warm before the
   first job is submitted;
2. GET /jobs/{id} throughput and latency (p50 / p99) with 50 concurrent clients while a
   job of the same file runs;
3. a six-file ABACAD cadence (each file 2^20 channels x 16 spectra, a drifting tone in the
   ON files) as ONE cadence job (submit -> complete -> exports ready), next to the same six
   files as six single-file jobs, one after another and all submitted at once (at most the
   tier's 5 concurrent jobs in flight).

    .venv/bin/python benchmarks/bench_server.py [--duration 10] [--clients 50]
        [--pool-size N] [--back-to-back 5] [--cli-runs 2] [--only-cadence]

Starts its own server (``python -m mitraseti_server serve``) on 127.0.0.1 with a temporary
data dir; the machine's other load affects every number, so report the machine with them.
"""
from __future__ import annotations

import argparse
import asyncio
import json
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


def start_server(data_dir: Path, port: int, pool_size: int | None = None
                 ) -> subprocess.Popen:
    env = dict(os.environ)
    if pool_size is not None:
        env["MITRASETI_KERNEL_POOL_SIZE"] = str(pool_size)
    proc = subprocess.Popen([sys.executable, "-m", "mitraseti_server", "serve", "--host",
                             "127.0.0.1", "--port", str(port), "--dashboard-port", "0",
                             "--data-dir", str(data_dir)],
                            stdout=open(data_dir / "server.log", "wb"), env=env,
                            stderr=subprocess.STDOUT, cwd=str(REPO), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(url + "/health", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError("server did not start; see " + str(data_dir / "server.log"))


def wait_pool_ready(data_dir: Path, size: int, timeout: float = 300.0) -> float:
    """Wait until ``size`` spare kernels of the server are warm; returns the seconds waited."""
    t0 = time.perf_counter()
    pool = data_dir / "work" / "_pool"
    while len(list(pool.glob("*/ready.json"))) < size:
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"kernel pool not warm after {timeout:g} s")
        time.sleep(0.1)
    return time.perf_counter() - t0


def cli_seconds(obs: Path, out: Path) -> tuple[float, float]:
    """Whole-process time of ``mitraseti analyze`` (fresh interpreter, every export) and
    the pipeline's own processing_time_seconds in it."""
    cli = Path(sys.executable).with_name("mitraseti")
    t = time.perf_counter()
    subprocess.run([str(cli), "analyze", str(obs), "--out", str(out), "-q"], check=True,
                   cwd=str(REPO))
    wall = time.perf_counter() - t
    summary = json.loads((out / "results.json").read_text())
    summary = summary.get("summary", summary)
    return wall, float(summary.get("processing_time_seconds", float("nan")))


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


def write_cadence(folder: Path, nchans: int = 1 << 20, n_spectra: int = 16,
                  gap_s: float = 30.0) -> list[Path]:
    """Six files ON, OFF, ON, OFF, ON, OFF with the same grid, ``obs_length + gap_s``
    apart; a tone drifting 1 channel per spectrum in the ON files only."""
    from mitraseti.io import FilWriter, ObservationHeader
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    step_s = n_spectra * 18.253611 + gap_s          # file start to file start
    paths = []
    for k in range(6):
        header = ObservationHeader(nchans=nchans, fch1=8419.2, foff=2.7939677e-6,
                                   tsamp=18.253611, n_spectra=n_spectra,
                                   source_name="BENCH" if k % 2 == 0 else f"BENCH_OFF{k}",
                                   tstart=60000.0 + k * step_s / 86400.0)
        path = folder / f"cadence_{k}_{'OFF' if k % 2 else 'ON'}.fil"
        with FilWriter(path, header) as w:
            for t in range(n_spectra):
                row = rng.normal(10.0, 1.0, size=(1, nchans)).astype(np.float32)
                if k % 2 == 0:
                    row[0, nchans // 3 + round(k * step_s / 18.253611) + t] += 40.0
                w.write(row)
        paths.append(path)
    return paths


def submit(url: str, headers: dict, key: str, **extra) -> str:
    r = requests.post(url + "/analyze", json={"file_key": key, **extra}, headers=headers,
                      timeout=60)
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
            marks["results"] = job["results"]
            return marks
        time.sleep(0.1)


def bench_cadence(url: str, headers: dict, api_key: str, folder: Path) -> None:
    """Section 3: one cadence job vs six single-file jobs on the same six files."""
    from mitraseti.client import Client
    paths = write_cadence(folder)
    keys = [Client(url, api_key=api_key).upload(p, progress=False) for p in paths]
    t0 = time.perf_counter()
    marks = time_job(url, headers, submit(url, headers, keys[0], cadence=keys), t0)
    res = marks["results"]
    print(f"cadence job (6 files of 2^20 x 16, one job): submit -> complete "
          f"{marks['complete']:.2f} s, -> exports ready {marks['exports_ready']:.2f} s "
          f"(notebook's processing_time_seconds {res['processing_time_seconds']:.2f} s; "
          f"{res['events']} event(s), {res['filtered_hits']} filtered hits)")
    t_all = time.perf_counter()
    singles = []
    for key in keys:
        t0 = time.perf_counter()
        singles.append(time_job(url, headers, submit(url, headers, key), t0))
    seq = time.perf_counter() - t_all
    each = ", ".join(f"{m['exports_ready']:.2f}" for m in singles)
    print(f"six single-file jobs one after another: {seq:.2f} s in all (each submit -> "
          f"exports ready: {each} s)")
    t0 = time.perf_counter()
    pending, running, done = list(keys), [], 0
    while pending or running:
        while pending and len(running) < 5:          # the tier's concurrent-job limit
            running.append(submit(url, headers, pending.pop(0)))
        for job_id in list(running):
            job = requests.get(f"{url}/jobs/{job_id}", headers=headers, timeout=60).json()
            if job["status"] == "failed":
                raise RuntimeError(f"job failed: {job.get('error')}")
            if job["status"] == "complete" and job.get("exports_ready"):
                running.remove(job_id)
                done += 1
        time.sleep(0.1)
    print(f"six single-file jobs submitted together (<= 5 in flight): "
          f"{time.perf_counter() - t0:.2f} s until all {done} have their exports")


def report_job(name: str, marks: dict, cli_s: float) -> None:
    print(f"{name}: submit -> processing {marks.get('processing', 0):.2f} s, -> complete "
          f"{marks['complete']:.2f} s (CLI {cli_s:.2f} s, target <= {cli_s + 1:.2f} s), "
          f"-> exports ready {marks['exports_ready']:.2f} s (pipeline's own "
          f"processing_time_seconds {marks['processing_time_seconds']:.2f} s)")


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
    ap.add_argument("--pool-size", type=int, default=None,
                    help="kernel_pool_size of the server (default: the server's default)")
    ap.add_argument("--back-to-back", type=int, default=5, help="jobs run one after another")
    ap.add_argument("--cli-runs", type=int, default=2, help="CLI runs (median reported)")
    ap.add_argument("--only-cadence", action="store_true",
                    help="run section 3 only (cadence job vs six single-file jobs)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        data.mkdir()
        obs = write_observation(tmp / "bench_2p20x16.fil")
        cli = [cli_seconds(obs, tmp / f"cli{i}")
               for i in range(0 if args.only_cadence else args.cli_runs)]
        cli_s = statistics.median(w for w, _ in cli) if cli else float("nan")
        if cli:
            print(f"CLI `mitraseti analyze` whole process (every export): median {cli_s:.2f}"
                  f" s of {', '.join(f'{w:.2f} ({p:.2f} in the pipeline)' for w, p in cli)}")
        port = free_port()
        proc = start_server(data, port, args.pool_size)
        url = f"http://127.0.0.1:{port}"
        try:
            from mitraseti.client import Client
            from mitraseti_server.auth.keys import create_api_key
            from mitraseti_server.storage.database import Store
            store = Store(data / "mitraseti.db")
            user = store.create_user("bench", "researcher")
            key = create_api_key(store, user.user_id, "bench").api_key
            headers = {"x-api-key": key}
            t = time.perf_counter()
            file_key = Client(url, api_key=key).upload(obs, progress=False)
            upload_s = time.perf_counter() - t
            print(f"observation: 2^20 channels x 16 spectra float32, "
                  f"{obs.stat().st_size / 2**20:.1f} MiB; multipart upload {upload_s:.2f} s")
            pool = 2 if args.pool_size is None or args.pool_size < 0 else args.pool_size
            if pool:
                print(f"kernel pool: {pool} spare(s) warm "
                      f"{wait_pool_ready(data, pool):.1f} s after the upload")
            else:
                print("kernel pool: off (a cold runner and kernel per job)")
            if args.only_cadence:
                bench_cadence(url, headers, key, tmp / "cadence")
                return
            t0 = time.perf_counter()
            report_job("1 job", time_job(url, headers, submit(url, headers, file_key), t0),
                       cli_s)
            t_all = time.perf_counter()
            for i in range(args.back_to_back):
                t0 = time.perf_counter()
                marks = time_job(url, headers, submit(url, headers, file_key), t0)
                report_job(f"back-to-back {i + 1}/{args.back_to_back}", marks, cli_s)
            total = time.perf_counter() - t_all
            if args.back_to_back:
                print(f"{args.back_to_back} back-to-back jobs in {total:.2f} s: "
                      f"{args.back_to_back / total * 3600:.0f} jobs/hour (REST executor; "
                      f"CLI one after another: {3600 / cli_s:.0f} files/hour)")
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
            bench_cadence(url, headers, key, tmp / "cadence")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
