"""Real shared engines for the scale-out tests (no tests here).

``ExternalCluster``: a ``dask scheduler`` and ``dask worker --nthreads 1 --no-nanny``
processes on 127.0.0.1, each logging to ``<name>.log``; the job runners on the workers log
``job <id>: run <n> started at <unix s>``, so ``runs(job_id)`` lists every start of a job.

``SharedEngines``: PostgreSQL 15 (a database on the tests' throw-away cluster), moto's S3
server on loopback (the ``s3_endpoint`` fixture) and an ``ExternalCluster`` with two workers, with ``api_server()``
starting ``mitraseti serve`` processes on all three (``--database``, ``--executor
dask://``, ``--storage s3://``), credentials and endpoint from the standard AWS variables.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from waiting import wait_for
import test_jobs_harness as H

from mitraseti_server.jobs.executor import is_runner_of

DASK = str(Path(sys.executable).with_name("dask"))
RUN_LINE = re.compile(r"job (\S+): run (\d+) (started|ended) at ([\d.]+)")
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}


def runner_of(job_id: str) -> int | None:
    """The live runner process of ``job_id`` on this machine, if any."""
    for proc in Path("/proc").glob("[0-9]*"):
        if is_runner_of(int(proc.name), job_id):
            return int(proc.name)
    return None


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def worker_of(runner: int) -> int:
    """The Dask worker process a job runner belongs to: its parent is the worker's spare
    factory (a pooled runner) or the worker itself (a cold runner)."""
    parent = parent_of(runner)
    if b"--factory" in Path(f"/proc/{parent}/cmdline").read_bytes():
        return parent_of(parent)
    return parent


@dataclass
class Run:
    number: int
    started: float
    worker: str


class ExternalCluster:
    """``dask scheduler`` and ``dask worker --nthreads 1 --no-nanny`` processes on
    127.0.0.1; each worker logs to ``<name>.log`` in ``root``."""

    def __init__(self, root: Path, env: dict[str, str] | None = None):
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MITRASETI_")}
        self.env.update(env or {}, PYTHONUNBUFFERED="1")
        self.procs: dict[str, subprocess.Popen] = {}
        self.address = ""

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        with open(self.root / f"{name}.log", "wb") as log:
            proc = subprocess.Popen([DASK, *args], stdout=log, stderr=subprocess.STDOUT,
                                    env=self.env, cwd=str(self.root), start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_scheduler(self) -> str:
        info = self.root / "scheduler.json"
        self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(info)])
        self.address = wait_for(lambda: info.exists() and json.loads(info.read_text())
                                .get("address"), timeout=60)
        return self.address

    def add_worker(self, name: str) -> subprocess.Popen:
        (self.root / name).mkdir()
        return self._spawn(name, ["worker", self.address, "--nthreads", "1", "--no-nanny",
                                  "--host", "127.0.0.1", "--name", name,
                                  "--local-directory", str(self.root / name)])

    def wait_for_workers(self, n: int, timeout: float = 120.0) -> None:
        from distributed import Client as DaskClient
        with DaskClient(self.address, timeout=30) as dask:
            dask.wait_for_workers(n, timeout=timeout)

    def worker_pids(self) -> set[int]:
        return {p.pid for name, p in self.procs.items()
                if name != "scheduler" and p.poll() is None}

    def worker_named(self, pid: int) -> str:
        return next(name for name, p in self.procs.items() if p.pid == pid)

    def runs(self, job_id: str) -> list[Run]:
        """Every start of the job's runner, from the workers' logs (in start order)."""
        found = []
        for name in self.procs:
            text = (self.root / f"{name}.log").read_text(errors="replace")
            for m in RUN_LINE.finditer(text):
                if m.group(1) == job_id and m.group(3) == "started":
                    found.append(Run(int(m.group(2)), float(m.group(4)), name))
        return sorted(found, key=lambda r: r.started)

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


class SharedEngines:
    """PostgreSQL, S3 and a two-worker Dask cluster, and API processes on all three."""

    def __init__(self, root: Path, database: str, s3_endpoint: str,
                 bucket: str = "mitraseti-shared"):
        self.root, self.database, self.s3_endpoint = root, database, s3_endpoint
        self.storage = f"s3://{bucket}/platform"
        self.env = {**AWS_ENV, "AWS_ENDPOINT_URL": self.s3_endpoint}
        self.cluster = ExternalCluster(root, self.env)
        self.servers: list[H.LiveServer] = []
        try:
            self.cluster.start_scheduler()
            for name in ("worker-a", "worker-b"):
                self.cluster.add_worker(name)
            self.cluster.wait_for_workers(2)
        except BaseException:
            self.stop()
            raise

    def api_server(self, data_dir: Path) -> H.LiveServer:
        """A started ``mitraseti serve`` on the three engines (``data_dir``: its secret
        and work folders; processes behind one proxy share it)."""
        server = H.LiveServer(data_dir, database=self.database, env=self.env, args=[
            "--executor", "dask://" + self.cluster.address.removeprefix("tcp://"),
            "--storage", self.storage]).start(timeout=180)
        self.servers.append(server)
        return server

    def list_objects(self) -> list[dict]:
        """Every object in the bucket (S3's own listing, through boto3)."""
        import boto3

        bucket = self.storage.removeprefix("s3://").split("/", 1)[0]
        s3 = boto3.client("s3", endpoint_url=self.s3_endpoint, **{
            "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            "region_name": AWS_ENV["AWS_DEFAULT_REGION"]})
        return s3.list_objects_v2(Bucket=bucket).get("Contents", [])

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.cluster.stop()
