"""The metadata database on both engines (the embedded SQLite file and a real
PostgreSQL 15): Alembic makes exactly the schema the stores query, a database made before
Alembic upgrades in place, and the quota and claim rules hold under concurrent callers."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mitraseti_server.config import ServiceConfig
from mitraseti_server.errors import ConfigError, QuotaExceeded
from mitraseti_server.jobs import outbox  # noqa: F401 - registers webhook_deliveries
from mitraseti_server.jobs import store as js
from mitraseti_server.jobs.executor import owner_is_gone
from mitraseti_server.storage import engine
from mitraseti_server.storage.database import Store, metadata

from dbutil import rows
from waiting import in_parallel

LEGACY_SCHEMA = Path(__file__).with_name("legacy_schema.sql")
REVISIONS = sorted(p.stem for p in (Path(engine.__file__).parent / "migrations"
                                    / "versions").glob("0*.py"))


@pytest.fixture
def store(database, tmp_path):
    """A migrated Store on the engine of the ``database`` parameter."""
    db = Store(database or tmp_path / "mitraseti.db")
    db.migrate()
    yield db
    db.close()


def submit(jobs: js.JobStore, user_id: str, concurrent: int = 5, monthly: int = 100,
           files: int = 1, now: float | None = None) -> js.Job:
    return jobs.submit(user_id=user_id, tier="researcher", monthly_limit=monthly,
                       concurrent_limit=concurrent, file_key=f"{user_id}/obs.fil",
                       filename="obs.fil", source_name="Voyager1", file_size=1024,
                       params={}, now=now, files=files)


def schema_differences(db: Store, compare_type: bool = True) -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": compare_type})
        return compare_metadata(context, metadata)


# ---- schema ----------------------------------------------------------------------------
def test_migrations_make_the_schema_the_stores_query(store):
    assert REVISIONS[-1] == engine.HEAD == engine.current_revision(store.engine)
    store.migrate()                                       # again: nothing to do
    assert engine.current_revision(store.engine) == engine.HEAD
    assert schema_differences(store) == []
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"users", "api_keys", "uploads", "reports", "jobs", "job_usage",
            "alembic_version"} <= tables


def test_processes_starting_together_migrate_once(database, tmp_path):
    target = database or tmp_path / "mitraseti.db"
    out = in_parallel(4, lambda i: Store(target).migrate())
    assert out == [None] * 4
    db = Store(target)
    assert engine.current_revision(db.engine) == engine.HEAD
    assert rows(db, "SELECT COUNT(*) AS n FROM alembic_version")[0]["n"] == 1
    db.close()


def test_connections_opening_a_new_sqlite_file_together_all_get_wal(tmp_path):
    # switching a new file to WAL takes a lock SQLite does not wait for: every opener
    # must still come up (this lost one of four openers now and then)
    for round_ in range(20):
        path = tmp_path / f"new-{round_}.db"
        engines = [engine.make_engine(engine.database_url(path)) for _ in range(6)]

        def journal_mode(i):
            with engines[i].connect() as conn:
                return conn.exec_driver_sql("PRAGMA journal_mode").scalar()

        assert in_parallel(6, journal_mode) == ["wal"] * 6
        for e in engines:
            e.dispose()


def test_a_database_made_before_alembic_upgrades_in_place(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(LEGACY_SCHEMA.read_text())
        conn.execute("INSERT INTO users VALUES ('u1', 'ann', 'researcher', NULL, 100)")
        for key in ("k-b", "k-a"):                        # same second: insertion order
            conn.execute("INSERT INTO api_keys (key_id, user_id, name, digest, created_at,"
                         " expires_at) VALUES (?, 'u1', ?, 'd', 100, 9999999999)",
                         (key, key))
        for job in ("j-2", "j-1", "j-3"):
            conn.execute("INSERT INTO jobs (job_id, user_id, status, file_key, filename,"
                         " source_name, created_at, updated_at) VALUES (?, 'u1',"
                         " 'complete', 'u1/f', 'f', 's', 200, 200)", (job,))
        conn.execute("INSERT INTO job_usage VALUES ('u1', ?, 3)", (js.month_key(200.0),))
    db = Store(path)
    db.migrate()
    assert engine.current_revision(db.engine) == engine.HEAD
    # the same tables, columns and indexes (old SQLite tables keep their INTEGER types and
    # SQLite's nullable TEXT primary keys and unnamed foreign keys: nothing queries use)
    kinds = {f"{verb}_{what}" for verb in ("add", "remove")
             for what in ("table", "column", "index")}
    missing = [d for d in schema_differences(db, compare_type=False)
               if not isinstance(d, list) and d[0] in kinds]
    assert missing == []
    assert "schema_migrations" not in sa.inspect(db.engine).get_table_names()
    assert db.get_user_by_name("ann").tier == "researcher"
    assert [k["key_id"] for k in db.api_keys_of("u1")] == ["k-b", "k-a"]
    jobs = js.JobStore(db)
    assert [j.job_id for j in jobs.list_for_user("u1")] == ["j-3", "j-1", "j-2"]
    assert jobs.usage_this_month("u1", now=200.0) == 3
    new = submit(jobs, "u1", now=200.0)                    # the upgraded tables work
    assert jobs.list_for_user("u1")[0].job_id == new.job_id   # newest of its second
    assert jobs.claim(new.job_id, owner="me").status == js.PROCESSING
    Store(path).migrate()                                  # a second start: no change
    assert rows(db, "SELECT COUNT(*) AS n FROM jobs")[0]["n"] == 4


# ---- concurrency -----------------------------------------------------------------------
def test_parallel_submissions_hold_the_concurrent_limit(store):
    jobs = js.JobStore(store)
    user = store.create_user("racer", "researcher")
    out = in_parallel(12, lambda i: submit(jobs, user.user_id, concurrent=5))
    accepted = [o for o in out if isinstance(o, js.Job)]
    refused = [o for o in out if isinstance(o, QuotaExceeded)]
    assert (len(accepted), len(refused)) == (5, 7), out
    assert {o.fields["running"] for o in refused} == {5}
    assert len(jobs.with_status(js.SUBMITTED)) == 5
    assert jobs.usage_this_month(user.user_id) == 5


def test_monthly_quota_counts_files_and_survives_pruning(store):
    jobs = js.JobStore(store)
    user = store.create_user("counter", "researcher")
    first = submit(jobs, user.user_id, monthly=4, files=3)       # a 3-file cadence
    with pytest.raises(QuotaExceeded) as refused:
        submit(jobs, user.user_id, monthly=4, files=2)
    assert (refused.value.fields["used"], refused.value.fields["requested"]) == (3, 2)
    jobs.delete([first.job_id])
    submit(jobs, user.user_id, monthly=4)
    with pytest.raises(QuotaExceeded, match="Monthly limit"):
        submit(jobs, user.user_id, monthly=4)
    assert jobs.usage_this_month(user.user_id) == 4


def test_a_job_is_claimed_by_one_executor_only(store):
    jobs = js.JobStore(store)
    user = store.create_user("claimer", "researcher")
    job = submit(jobs, user.user_id)
    out = in_parallel(8, lambda i: jobs.claim(job.job_id, owner=f"host:{i}:t"))
    won = [o for o in out if isinstance(o, js.Job)]
    assert len(won) == 1 and out.count(None) == 7, out
    row = jobs.get(job.job_id)
    assert (row.status, row.attempts, row.owner) == (js.PROCESSING, 1, won[0].owner)
    jobs.requeue(job.job_id)
    assert (jobs.get(job.job_id).status, jobs.get(job.job_id).owner) == (js.SUBMITTED, None)


def test_reconciliation_leaves_live_executors_jobs_alone():
    me = f"{os.uname().nodename}:{os.getpid()}:mine"
    host = me.split(":")[0]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert owner_is_gone(None, me) and owner_is_gone(me, me)
    assert owner_is_gone(f"{host}:{os.getpid()}:earlier", me)     # this process, before
    assert owner_is_gone(f"{host}:{dead.pid}:t", me)               # ended on this host
    assert not owner_is_gone(f"{host}:{os.getppid()}:t", me)       # alive on this host
    assert not owner_is_gone(f"elsewhere:{dead.pid}:t", me)        # another host


# ---- the setting ------------------------------------------------------------------------
def test_database_setting_from_environment_and_flag(database, tmp_path):
    url = database or f"sqlite:///{tmp_path / 'elsewhere.db'}"
    config = ServiceConfig.load(data_dir=tmp_path / "d", env={"MITRASETI_DATABASE": url})
    assert config.database_url == url
    assert ServiceConfig.load(data_dir=tmp_path / "d", env={}).database_url == \
        str(tmp_path / "d" / "mitraseti.db")
    with pytest.raises(ConfigError, match="MITRASETI_DATABASE|database") as bad:
        ServiceConfig.load(data_dir=tmp_path / "d", env={"MITRASETI_DATABASE": "mysql://x/y"})
    assert bad.value.fields["key"] == "database"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITRASETI_")}
    done = subprocess.run([sys.executable, "-m", "mitraseti_server", "admin", "create-user",
                           "dora", "--data-dir", str(tmp_path / "d"), "--database", url],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    db = Store(url)
    assert db.get_user_by_name("dora").tier == "researcher"
    assert not (tmp_path / "d" / "mitraseti.db").exists()          # not the default file
    db.close()
