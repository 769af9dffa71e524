"""Signed job webhooks from the durable outbox, against real HTTP receivers on 127.0.0.1
and real databases: signatures, per-job order, retries with backoff and giving up, the
delivery status on GET /jobs/{id}, a pending delivery that survives a restart, and two API
processes on one PostgreSQL that deliver each event exactly once."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_jobs_harness as H  # noqa: E402
from conftest import LiveServer, make_config  # noqa: E402
from waiting import wait_for  # noqa: E402

from mitraseti_server.jobs import outbox as ob  # noqa: E402
from mitraseti_server.jobs.webhooks import (WebhookSender, backoff_schedule,  # noqa: E402
                                            private_address_reason, sender_is_gone, sign,
                                            url_host, validate_webhook_url,
                                            verify_signature)
from mitraseti_server.storage.database import Store  # noqa: E402

SECRET = b"s" * 32


class Receiver:
    """Records every POST. Answers 500 to the first ``fail_first`` calls and 503 while
    ``down``, 401 to a bad signature, else 200 (after ``delay_s``)."""

    def __init__(self, secret: bytes = SECRET, fail_first: int = 0, delay_s: float = 0.0):
        self.secret, self.fail_first, self.delay_s = secret, fail_first, delay_s
        self.down = False
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify_signature(body, self.headers.get("X-MitraSETI-Signature"),
                                      outer.secret)
                time.sleep(outer.delay_s)
                with outer._lock:
                    n = len(outer.calls)
                    answer = (500 if n < outer.fail_first else 503 if outer.down
                              else 200 if ok else 401)
                    outer.calls.append({
                        "time": time.monotonic(), "body": body, "valid": ok,
                        "event": self.headers.get("X-MitraSETI-Event"),
                        "delivery": self.headers.get("X-MitraSETI-Delivery"),
                        "path": self.path, "answer": answer})
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook?token=receiver-secret"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict]:
        return [c for c in self.calls if c["answer"] == 200]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


class Clock:
    """A settable clock (unix s) for driving the sender's schedule without sleeping."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def outbox(tmp_path) -> ob.Outbox:
    store = Store(tmp_path / "outbox.db")
    store.migrate()
    yield ob.Outbox(store)
    store.close()


def sender_for(outbox, clock, **kwargs) -> WebhookSender:
    return WebhookSender(outbox, SECRET, owner=kwargs.pop("owner", "test:1:me"),
                         clock=clock, **kwargs)


def row(outbox, delivery_id) -> dict:
    with outbox.store.read() as conn:
        return dict(conn.execute(ob.webhook_deliveries.select().where(
            ob.webhook_deliveries.c.delivery_id == delivery_id)).one()._mapping)


# ---- pure helpers -----------------------------------------------------------------------
def test_default_schedule_spans_at_least_an_hour(tmp_path):
    config = make_config(tmp_path / "data")
    waits = backoff_schedule(config.webhook_attempts, config.webhook_backoff_s,
                             config.webhook_backoff_max_s)
    assert len(waits) == config.webhook_attempts - 1
    assert sum(waits) >= 3600, waits
    assert backoff_schedule(5, 1.0, 3.0) == [1.0, 2.0, 3.0, 3.0]      # doubling, capped
    assert backoff_schedule(1, 10.0, 60.0) == []                     # one try: no wait


def test_signature_helpers():
    body, secret = b'{"job_id":"x"}', b"k" * 32
    header = sign(body, secret)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(body, header, secret)
    assert not verify_signature(body + b" ", header, secret)
    assert not verify_signature(body, header, b"other" * 8)
    assert not verify_signature(body, None, secret)
    assert validate_webhook_url("https://example.org/h") is None
    for bad in ("ftp://x/y", "example.org/h", "http://", 5, ""):
        assert validate_webhook_url(bad), bad
    assert url_host("https://hooks.example.org/T0/B1/secret?x=1") == "hooks.example.org"
    assert url_host("http://user:pw@10.0.0.1:8080/h") == "10.0.0.1:8080"
    assert url_host("http://[::1]:9/h") == "[::1]:9"


def test_private_address_policy_helpers():
    for url in ("http://127.0.0.1:9/h", "http://10.1.2.3/h", "http://192.168.0.7/h",
                "http://169.254.169.254/latest/meta-data", "http://[::1]/h",
                "http://0.0.0.0/h", "http://localhost/h"):
        assert "non-public" in (private_address_reason(url) or ""), url
    assert private_address_reason("http://8.8.8.8/h") is None       # a literal: no DNS
    assert "does not resolve" in private_address_reason("http://no-such-host.invalid/h")


# ---- the sender on a real SQLite outbox, with a settable clock -------------------------
def test_retries_with_backoff_then_delivered_or_given_up(outbox, receiver):
    hook = receiver(fail_first=2)
    clock = Clock()
    sender = sender_for(outbox, clock, attempts=3, backoff_s=10.0, backoff_max_s=60.0)
    ok = sender.notify("job-a", hook.url, {"job_id": "job-a", "status": "complete"})
    t0 = clock.now
    assert asyncio.run(sender.run_once()) == 1                 # attempt 1: 500
    first = row(outbox, ok)
    assert (first["state"], first["attempts"], first["last_code"]) == ("pending", 1, 500)
    assert first["next_attempt_at"] == t0 + 10
    clock.now = t0 + 9
    assert asyncio.run(sender.run_once()) == 0                 # not due yet
    clock.now = t0 + 10
    assert asyncio.run(sender.run_once()) == 1                 # attempt 2: 500
    assert row(outbox, ok)["next_attempt_at"] == t0 + 10 + 20  # the wait doubled
    clock.now = t0 + 30
    assert asyncio.run(sender.run_once()) == 1                 # attempt 3: 200
    done = row(outbox, ok)
    assert (done["state"], done["attempts"], done["last_code"], done["last_error"]) == (
        "delivered", 3, 200, None)
    assert done["delivered_at"] == t0 + 30 and done["owner"] == "test:1:me"
    calls = hook.calls
    assert [c["answer"] for c in calls] == [500, 500, 200]
    assert all(c["valid"] for c in calls) and len({c["body"] for c in calls}) == 1
    assert {c["delivery"] for c in calls} == {ok}
    assert json.loads(calls[0]["body"]) == {"job_id": "job-a", "status": "complete"}
    assert calls[0]["event"] == "job.complete" and calls[0]["path"].endswith("receiver-secret")

    hook.down = True                                           # never answers 2xx again
    lost = sender.notify("job-b", hook.url, {"job_id": "job-b", "status": "failed"})
    for step in (0, 10, 20):
        clock.now += step
        assert asyncio.run(sender.run_once()) == 1
    gave_up = row(outbox, lost)
    assert (gave_up["state"], gave_up["attempts"], gave_up["last_code"]) == (
        "failed", 3, 503)
    assert gave_up["last_error"] == "HTTP 503"
    clock.now += 3600
    assert asyncio.run(sender.run_once()) == 0                 # a failed row stays failed


def test_events_of_one_job_go_out_one_at_a_time_in_order(outbox, receiver):
    hook, other_hook = receiver(fail_first=1), receiver()
    clock = Clock()
    sender = sender_for(outbox, clock, attempts=5, backoff_s=5.0, backoff_max_s=60.0)
    # a fast worker queued "processing" before the request queued "submitted": the job's
    # creation time orders "submitted" first all the same
    created_ns = time.time_ns()
    processing = sender.notify("job-a", hook.url, {"job_id": "job-a", "status": "processing"})
    submitted = sender.notify("job-a", hook.url, {"job_id": "job-a", "status": "submitted"},
                              created_ns=created_ns)
    sender.notify("job-a", hook.url, {"job_id": "job-a", "status": "complete"})
    other = sender.notify("job-b", other_hook.url, {"job_id": "job-b",
                                                     "status": "submitted"})
    listed = outbox.for_job("job-a")
    assert [d["event"] for d in listed] == ["job.submitted", "job.processing",
                                            "job.complete"]
    assert listed[0]["delivery_id"] == submitted and listed[1]["delivery_id"] == processing
    # round 1: only the head of each job; job-a's head fails (the receiver's first call)
    assert asyncio.run(sender.run_once()) == 2
    assert row(outbox, other)["state"] == "delivered"
    assert asyncio.run(sender.run_once()) == 0       # job-a's next events wait behind it
    clock.now += 5
    for _ in range(3):
        assert asyncio.run(sender.run_once()) == 1
    order = [json.loads(c["body"])["status"] for c in hook.delivered()]
    assert order == ["submitted", "processing", "complete"]
    assert {d["state"] for d in outbox.for_job("job-a")} == {"delivered"}
    # a retried job's new "submitted" event is queued after everything before it
    again = sender.notify("job-a", hook.url, {"job_id": "job-a", "status": "submitted"},
                          created_ns=created_ns)
    assert outbox.for_job("job-a")[-1]["delivery_id"] == again


def test_private_target_fails_unsent(outbox, receiver):
    hook = receiver()
    sender = sender_for(outbox, Clock(), allow_private=False)
    refused = sender.notify("job-p", hook.url, {"job_id": "job-p", "status": "complete"})
    assert asyncio.run(sender.run_once()) == 1
    failed = row(outbox, refused)
    assert failed["state"] == "failed" and "non-public" in failed["last_error"]
    assert hook.calls == []
    open_sender = sender_for(outbox, Clock(), owner="test:1:open")
    sent = open_sender.notify("job-q", hook.url, {"job_id": "job-q", "status": "complete"})
    assert asyncio.run(open_sender.run_once()) == 1
    assert row(outbox, sent)["state"] == "delivered" and len(hook.calls) == 1


def test_claims_of_ended_senders_and_expired_leases_are_sent_again(outbox, receiver):
    hook = receiver()
    clock = Clock()
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    import socket
    dead_owner = f"{socket.gethostname()}:{int(ended.stdout)}:gone"
    far_owner = "another-host:1:alive"
    a = outbox.add(job_id="job-a", event="job.complete", url=hook.url, body="{}",
                   now=clock.now)
    b = outbox.add(job_id="job-b", event="job.complete", url=hook.url, body="{}",
                   now=clock.now)
    assert [r["delivery_id"] for r in outbox.claim(dead_owner, clock.now, 300, 1)] == [a]
    assert [r["delivery_id"] for r in outbox.claim(far_owner, clock.now, 300, 1)] == [b]
    assert sender_is_gone(dead_owner) and not sender_is_gone(far_owner)
    assert outbox.reclaim(clock.now, sender_is_gone) == 1      # the ended process's row
    assert row(outbox, a)["state"] == "pending" and row(outbox, b)["state"] == "sending"
    clock.now += 301                                           # the other host's lease ends
    assert outbox.reclaim(clock.now, sender_is_gone) == 1
    sender = sender_for(outbox, clock)
    assert asyncio.run(sender.run_once()) == 2
    assert {row(outbox, a)["state"], row(outbox, b)["state"]} == {"delivered"}
    # a late answer from the old claim no longer overwrites the row
    assert not outbox.record(b, far_owner, "failed", now=clock.now, code=500, error="late")
    assert row(outbox, b)["state"] == "delivered"


def test_retention_deletes_pruned_jobs_deliveries_and_old_finished_ones(tmp_path):
    from mitraseti_server.services import build_services

    services = build_services(make_config(tmp_path / "data"))
    try:
        user = services.store.create_user("ret", "institution")
        job = services.job_store.submit(
            user_id=user.user_id, tier="institution", monthly_limit=10, concurrent_limit=5,
            file_key="k", filename="f.fil", source_name="s", file_size=1, params={},
            webhook_url="http://example.org/h")
        box = services.executor.outbox
        mine = box.add(job_id=job.job_id, event="job.submitted", url="http://example.org/h",
                       body="{}", now=time.time())
        now = time.time()
        old_done = box.add(job_id="gone-job", event="job.complete", url="u", body="{}",
                           now=now - 31 * 86400)
        old_open = box.add(job_id="slow-job", event="job.complete", url="u", body="{}",
                           now=now - 31 * 86400)
        recent = box.add(job_id="new-job", event="job.complete", url="u", body="{}",
                         now=now - 86400)
        assert len(box.claim("t:1:x", now, 300, 10)) == 4
        for delivery_id in (old_done, recent):
            box.record(delivery_id, "t:1:x", "delivered", now=now, code=200, error=None)
        box.release("t:1:x", now)
        services.retention.remove([job])
        assert box.for_job(job.job_id) == []
        services.retention.sweep_once(now)
        left = {d["delivery_id"] for j in ("gone-job", "slow-job", "new-job")
                for d in box.for_job(j)}
        assert old_done not in left and mine
        assert left == {old_open, recent}          # still pending, or not 30 days old
    finally:
        services.store.close()


# ---- a live server ------------------------------------------------------------------------
def submit_with_hook(server, headers, tmp_path, hook_url) -> str:
    obs = H.write_observation(tmp_path / "observation.fil", nchans=256)
    key = H.upload(server, headers, obs)
    r = requests.post(server.url + "/analyze", headers=headers, timeout=30,
                      json={"file_key": key, "webhook_url": hook_url})
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def webhook_of(server, headers, job_id) -> dict:
    r = requests.get(f"{server.url}/jobs/{job_id}", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["webhook"]


def test_retried_delivery_is_visible_on_the_job(start_server, make_account_on, receiver,
                                                tmp_path):
    hook = receiver(fail_first=2)
    server = start_server(max_workers=0, webhook_backoff_s=1.0, webhook_attempts=5)
    hook.secret = server.services.config.secret_key
    ines = make_account_on(server, "institution")
    job_id = submit_with_hook(server, ines.headers, tmp_path, hook.url)
    done = wait_for(lambda: (lambda w: w if w["deliveries"][0]["state"] == "delivered"
                             else None)(webhook_of(server, ines.headers, job_id)),
                    timeout=30, every=0.2)
    assert done["url_host"] == f"127.0.0.1:{hook.port}"
    assert "receiver-secret" not in json.dumps(done)           # the URL's token stays hidden
    (delivery,) = done["deliveries"]
    assert delivery["event"] == "job.submitted" and delivery["attempts"] == 3
    assert delivery["last_code"] == 200 and delivery["last_error"] is None
    assert delivery["delivered_at"] >= delivery["created_at"]
    assert delivery["next_attempt_at"] is None
    calls = hook.calls
    assert [c["answer"] for c in calls] == [500, 500, 200]
    assert all(c["valid"] for c in calls) and len({c["body"] for c in calls}) == 1
    assert {c["delivery"] for c in calls} == {delivery["delivery_id"]}
    gaps = [calls[1]["time"] - calls[0]["time"], calls[2]["time"] - calls[1]["time"]]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9, gaps             # 1 s, then 2 s at least
    assert json.loads(calls[-1]["body"])["job_id"] == job_id
    listed = requests.get(server.url + "/jobs", headers=ines.headers, timeout=30).json()
    assert "webhook" not in listed[0]                          # only on GET /jobs/{id}
    spec = requests.get(server.url + "/openapi.json", timeout=30).json()
    job_props = spec["components"]["schemas"]["Job"]["properties"]
    assert "webhook" in job_props


def test_pending_delivery_survives_a_restart(tmp_path, make_account_on, receiver, database):
    hook = receiver()
    hook.down = True
    config = dict(max_workers=0, webhook_backoff_s=1.0, webhook_attempts=20,
                  database=database or "")
    first = LiveServer(make_config(tmp_path / "data", **config)).start()
    hook.secret = first.services.config.secret_key
    try:
        ines = make_account_on(first, "institution")
        job_id = submit_with_hook(first, ines.headers, tmp_path, hook.url)
        wait_for(lambda: webhook_of(first, ines.headers, job_id)["deliveries"][0]
                 ["attempts"] >= 1, timeout=30, every=0.2)
    finally:
        first.stop()
    tried = len(hook.calls)
    assert tried >= 1 and not hook.delivered()
    hook.down = False
    second = LiveServer(make_config(tmp_path / "data", **config)).start()
    try:
        done = wait_for(lambda: (lambda w: w if w["deliveries"][0]["state"] == "delivered"
                                 else None)(webhook_of(second, ines.headers, job_id)),
                        timeout=30, every=0.2)
    finally:
        second.stop()
    (delivery,) = done["deliveries"]
    assert delivery["attempts"] >= 2 and len(hook.calls) > tried
    (ok,) = hook.delivered()
    assert ok["delivery"] == delivery["delivery_id"] and ok["valid"]
    assert json.loads(ok["body"])["job_id"] == job_id


def test_two_processes_on_one_postgresql_deliver_each_event_once(tmp_path, postgres_server,
                                                                 receiver):
    url = postgres_server.create_database()
    hook = receiver(delay_s=0.05)
    data = tmp_path / "data"
    servers = [H.LiveServer(data, "[executor]\nmax_workers = 0\n", database=url)
               for _ in range(2)]
    for server in servers:
        server.start()
    hook.secret = servers[0].secret()               # one data dir: one secret
    try:
        store = Store(url)
        box = ob.Outbox(store)
        queued: dict[str, list[str]] = {}
        for j in range(8):                      # 8 jobs x 3 events, added while both poll
            for status in ("submitted", "processing", "complete"):
                body = json.dumps({"job_id": f"job-{j}", "status": status})
                queued.setdefault(f"job-{j}", []).append(box.add(
                    job_id=f"job-{j}", event=f"job.{status}", url=hook.url, body=body,
                    now=time.time()))
        for n, server in enumerate(servers):   # and one real job on each process
            user = server.user(f"ines{n}", "institution")
            folder = tmp_path / f"upload-{n}"
            folder.mkdir()
            job_id = submit_with_hook(server, user["headers"], folder, hook.url)
            queued[job_id] = [d["delivery_id"] for d in box.for_job(job_id)]
        every = [d for ids in queued.values() for d in ids]
        assert len(every) == 26
        wait_for(lambda: all(d["state"] == "delivered" for j in queued
                             for d in box.for_job(j)), timeout=60, every=0.2)
        with store.read() as conn:
            senders = sorted(conn.execute(sa.select(ob.webhook_deliveries.c.owner)).scalars())
        # both processes took part (each is woken at once by the job it accepted)
        assert {o.split(":")[1] for o in senders} == {str(s.proc.pid) for s in servers}
        store.close()
    finally:
        for server in servers:
            server.stop()
    sent = [c["delivery"] for c in hook.calls]
    assert sorted(sent) == sorted(every)                      # each exactly once
    assert all(c["valid"] and c["answer"] == 200 for c in hook.calls)
    for job_id, ids in queued.items():                        # and per job in order
        assert [d for d in sent if d in ids] == ids, job_id


@pytest.mark.slow
def test_signed_webhooks_follow_a_real_job(tmp_path):
    server = H.LiveServer(tmp_path / "data", "[webhooks]\nwebhook_backoff_s = 1\n").start()
    hook = Receiver(server.secret(), fail_first=1)
    try:
        ines = server.user("ines", "institution")
        job_id = submit_with_hook(server, ines["headers"], tmp_path, hook.url)
        final = H.wait_job(server, ines["headers"], job_id, timeout=240)
        assert final["status"] == "complete", final
        wait_for(lambda: any(json.loads(c["body"])["status"] == "complete"
                             for c in hook.delivered()), timeout=30, every=0.2)
        job = requests.get(f"{server.url}/jobs/{job_id}", headers=ines["headers"],
                           timeout=30).json()
    finally:
        hook.close()
        server.stop()
    assert all(c["valid"] for c in hook.calls)
    assert [c["answer"] for c in hook.calls[:2]] == [500, 200]
    delivered = [json.loads(c["body"]) for c in hook.delivered()]
    assert [d["status"] for d in delivered] == ["submitted", "processing", "complete"]
    assert [c["event"] for c in hook.delivered()] == [
        "job.submitted", "job.processing", "job.complete"]
    assert delivered[-1]["job_id"] == job_id and delivered[-1]["results"] == final["results"]
    assert [(d["event"], d["state"]) for d in job["webhook"]["deliveries"]] == [
        ("job.submitted", "delivered"), ("job.processing", "delivered"),
        ("job.complete", "delivered")]
