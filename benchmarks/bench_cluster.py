"""Sizing benchmark for the scaled-out service (not a test; prints numbers).

Runs the whole service on its shared engines, as an operator would: a throw-away
PostgreSQL 15 (Debian's binaries, as the tests use), moto's S3 server on loopback, a Dask
scheduler and W worker processes (the ``dask scheduler`` / ``dask worker`` commands), and
two ``mitraseti serve`` API processes on them. For W = 1 and W = 2 (``--workers``):

1. jobs/hour: ``--files`` observations of 2^20 channels x 16 spectra (64 MiB float32 each,
   the same data) are uploaded, then submitted together through both API processes (two
   users, at most each tier's 5 jobs in flight), and timed until every job is complete
   with its exports; after one warm-up job per worker, so the workers' kernel pools are
   warm as in steady operation;
2. API latency: GET /jobs/{id} from ``--clients`` concurrent clients for ``--duration``
   seconds while jobs run, spread over both API processes, next to the same load on one.

    .venv/bin/python benchmarks/bench_cluster.py [--workers 1 2] [--files 6]
        [--clients 20] [--duration 5]

Every number depends on the machine and its other load: report the machine with them
(on a 2-core machine the API processes, the scheduler, S3 and the workers share 2 cores).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "server"))   # the tests' throw-away PostgreSQL
from postgres import PostgresServer  # noqa: E402

from bench_server import free_port, write_observation  # noqa: E402

BIN = Path(sys.executable).parent
BUCKET = "mitraseti-bench"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1"}


class Cluster:
    """Scheduler, workers and API processes of one round; ``stop()`` ends them all."""

    def __init__(self, tmp: Path, database: str, s3_endpoint: str, workers: int):
        self.tmp, self.database, self.workers = tmp, database, workers
        self.env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}
        self.procs: list[subprocess.Popen] = []
        self.data_dir = tmp / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.urls: list[str] = []

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                cwd=str(self.tmp), start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self, api_processes: int = 2) -> "Cluster":
        port = free_port()
        scheduler = f"tcp://127.0.0.1:{port}"
        self._spawn("scheduler", [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--no-dashboard"])
        for i in range(self.workers):
            self._spawn(f"worker{i}", [str(BIN / "dask"), "worker", scheduler,
                                       "--nthreads", "1", "--no-dashboard",
                                       "--local-directory", str(self.tmp / f"w{i}")])
        for i in range(api_processes):
            api_port = free_port()
            self._spawn(f"api{i}", [
                sys.executable, "-m", "mitraseti_server", "serve", "--host", "127.0.0.1",
                "--port", str(api_port), "--dashboard-port", "0",
                "--data-dir", str(self.data_dir), "--database", self.database,
                "--executor", f"dask://127.0.0.1:{port}", "--storage", f"s3://{BUCKET}"])
            self.urls.append(f"http://127.0.0.1:{api_port}")
        for url in self.urls:
            wait_healthy(url)
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def wait_healthy(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/health", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer /health in {timeout:g} s")


def make_users(database: str, n: int) -> list[str]:
    """API keys of ``n`` new enterprise users (5 concurrent jobs each)."""
    from mitraseti_server.auth.keys import create_api_key
    from mitraseti_server.storage.database import Store
    store = Store(database)
    store.migrate()
    keys = []
    for i in range(n):
        user = store.create_user(f"bench{i}-{time.time_ns()}", "enterprise")
        keys.append(create_api_key(store, user.user_id, "bench").api_key)
    store.close()
    return keys


def run_jobs(urls: list[str], keys: list[str], file_keys: list[list[str]],
             per_user: int = 5) -> float:
    """Submit every file (user i through API process i), at most ``per_user`` in flight
    per user; seconds until all are complete with their exports."""
    queues = [list(fk) for fk in file_keys]
    running: list[tuple[int, str]] = []
    t0 = time.perf_counter()
    while any(queues) or running:
        for i, queue in enumerate(queues):
            while queue and sum(1 for u, _ in running if u == i) < per_user:
                r = requests.post(urls[i % len(urls)] + "/analyze", timeout=60,
                                  headers={"x-api-key": keys[i]},
                                  json={"file_key": queue.pop(0)})
                r.raise_for_status()
                running.append((i, r.json()["job_id"]))
        for i, job_id in list(running):
            job = requests.get(f"{urls[i % len(urls)]}/jobs/{job_id}", timeout=60,
                               headers={"x-api-key": keys[i]}).json()
            if job["status"] == "failed":
                raise RuntimeError(f"job failed: {job.get('error')}")
            if job["status"] == "complete" and job.get("exports_ready"):
                running.remove((i, job_id))
        time.sleep(0.2)
    return time.perf_counter() - t0


async def hammer(urls: list[str], key: str, job_id: str, clients: int, duration: float):
    """GET /jobs/{id} from ``clients`` concurrent clients spread over ``urls``."""
    from tornado.httpclient import AsyncHTTPClient
    AsyncHTTPClient.configure(None, max_clients=clients)
    client = AsyncHTTPClient()
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + duration

    async def worker(n: int):
        nonlocal errors
        url = urls[n % len(urls)]
        while time.perf_counter() < stop:
            t = time.perf_counter()
            resp = await client.fetch(f"{url}/jobs/{job_id}", headers={"x-api-key": key},
                                      raise_error=False)
            latencies.append(time.perf_counter() - t)
            errors += resp.code != 200

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(clients)))
    return latencies, errors, time.perf_counter() - t0


def latency_line(label: str, result) -> str:
    lat, errors, wall = result
    ms = sorted(x * 1000 for x in lat)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    return (f"{label}: {len(ms) / wall:.0f} requests/s, p50 {statistics.median(ms):.1f} ms, "
            f"p99 {p99:.1f} ms, {errors} errors")


def one_round(tmp: Path, pg: PostgresServer, s3_endpoint: str, workers: int,
              observations: list[Path], args) -> None:
    from mitraseti.client import Client
    database = pg.create_database()
    cluster = Cluster(tmp / f"round{workers}", database, s3_endpoint, workers).start()
    try:
        keys = make_users(database, 2)
        uploads = [[], []]
        for n, obs in enumerate(observations):
            user = n % 2
            uploads[user].append(Client(cluster.urls[user], api_key=keys[user])
                                 .upload(obs, progress=False))
        warm = run_jobs(cluster.urls, keys,            # one job per worker
                        [[uploads[0][0]], [uploads[1][0]] if workers > 1 else []])
        time.sleep(args.settle)                  # replacement kernels warm up
        seconds = run_jobs(cluster.urls, keys, uploads)
        print(f"{workers} Dask worker(s): {len(observations)} jobs of 2^20 x 16 in "
              f"{seconds:.1f} s -> {len(observations) / seconds * 3600:.0f} jobs/hour "
              f"(warm-up job(s) {warm:.1f} s)")
        running = requests.post(cluster.urls[0] + "/analyze", headers={"x-api-key": keys[0]},
                                json={"file_key": uploads[0][0]}, timeout=60).json()["job_id"]
        both = asyncio.run(hammer(cluster.urls, keys[0], running, args.clients,
                                  args.duration))
        one = asyncio.run(hammer(cluster.urls[:1], keys[0], running, args.clients,
                                 args.duration))
        print("  " + latency_line(f"GET /jobs/{{id}}, {args.clients} clients over 2 API "
                                  "processes", both))
        print("  " + latency_line(f"GET /jobs/{{id}}, {args.clients} clients on 1 API "
                                  "process", one))
    finally:
        cluster.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--files", type=int, default=6, help="observations per round")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of GET load")
    ap.add_argument("--settle", type=float, default=15.0,
                    help="seconds after the warm-up jobs (kernel pools refill)")
    args = ap.parse_args()
    from moto.server import ThreadedMotoServer
    logging.getLogger("werkzeug").setLevel(logging.WARNING)     # S3's access log
    os.environ.update(CREDENTIALS)
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    pg = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            observations = []
            for n in range(args.files):
                observations.append(write_observation(tmp / f"obs{n}.fil"))
            print(f"machine: {os.cpu_count()} cores; engines: PostgreSQL 15, moto S3, "
                  f"Dask; 2 API processes")
            for workers in args.workers:
                one_round(tmp, pg, f"http://{host}:{port}", workers, observations, args)
    finally:
        pg.stop()
        s3.stop()


if __name__ == "__main__":
    main()
