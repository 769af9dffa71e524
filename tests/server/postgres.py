"""A real PostgreSQL 15 for the tests: Debian's server binaries (``make postgres``
installs them), a throw-away cluster in a temporary folder, listening on 127.0.0.1 on a
free port, removed at the end.

PostgreSQL refuses to run as root, so under root the cluster belongs to the
unprivileged ``postgres`` user and its programs run through ``runuser -u postgres --``.
Each test database is created with ``create_database()`` and reached as
``postgresql://mitraseti@127.0.0.1:PORT/NAME`` (trust authentication on loopback).
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

# Debian's server binaries: 15 (bookworm) first, else the newest installed
BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"),
            *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
SUPERUSER = "mitraseti"
RUN_AS = "postgres"                 # the unprivileged account of Debian's package


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed or did not start (the message says why)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One throw-away cluster; ``start()``, ``create_database()``, ``stop()``."""

    def __init__(self):
        self.bin = next((d for d in BIN_DIRS if (d / "pg_ctl").exists()), None)
        if self.bin is None:
            raise PostgresUnavailable(
                "PostgreSQL is not installed (no /usr/lib/postgresql/15/bin/pg_ctl); "
                "run `make postgres` as root, or apt-get install postgresql")
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="mitraseti-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.host = "127.0.0.1"

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", RUN_AS, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                              cwd=self.root)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(argv[:2])} failed ({done.returncode}): "
                                      f"{(done.stderr or done.stdout).strip()[-2000:]}")
        return done

    def start(self) -> "PostgresServer":
        if self.as_root:
            try:
                account = pwd.getpwnam(RUN_AS)
            except KeyError:
                raise PostgresUnavailable(f"running as root and no {RUN_AS!r} user to run "
                                          "PostgreSQL as") from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                  "-E", "UTF8", "--no-instructions")
        options = (f"-c listen_addresses={self.host} -p {self.port} "
                   f"-c unix_socket_directories={self.root} -c max_connections=300 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(host=self.host, port=self.port, user=SUPERUSER,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except PostgresUnavailable:
                pass                     # not running: nothing to stop
        shutil.rmtree(self.root, ignore_errors=True)
