"""Signed job webhooks against a real HTTP receiver on 127.0.0.1: every status change is
POSTed with a valid X-MitraSETI-Signature; a receiver that fails twice gets the same body
again (exponential backoff) and then sees submitted -> processing -> complete in order."""
from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_jobs_harness as H  # noqa: E402

from mitraseti_server.jobs.webhooks import sign, validate_webhook_url, verify_signature  # noqa: E402


class Receiver:
    """Records every POST; answers 500 to the first ``fail_first`` of them."""

    def __init__(self, secret: bytes, fail_first: int = 0):
        self.secret, self.fail_first = secret, fail_first
        self.calls: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify_signature(body, self.headers.get("X-MitraSETI-Signature"),
                                      outer.secret)
                n = len(outer.calls)
                answer = 500 if n < outer.fail_first else (200 if ok else 401)
                outer.calls.append({"time": time.monotonic(), "body": body, "valid": ok,
                                    "event": self.headers.get("X-MitraSETI-Event"),
                                    "answer": answer})
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict]:
        return [json.loads(c["body"]) for c in self.calls if c["answer"] == 200]

    def close(self):
        self.httpd.shutdown()


@pytest.mark.slow
def test_signed_webhooks_with_retries(tmp_path):
    server = H.LiveServer(tmp_path / "data").start()
    receiver = Receiver(server.secret(), fail_first=2)
    try:
        ines = server.user("ines", "institution")
        obs = H.write_observation(tmp_path / "observation.fil", nchans=256)
        key = H.upload(server, ines["headers"], obs)
        r = requests.post(server.url + "/analyze", headers=ines["headers"], timeout=30,
                          json={"file_key": key, "webhook_url": receiver.url})
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        final = H.wait_job(server, ines["headers"], job_id, timeout=240)
        assert final["status"] == "complete", final
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                d["status"] == "complete" for d in receiver.delivered()):
            time.sleep(0.2)
    finally:
        receiver.close()
        server.stop()
    calls = receiver.calls
    assert all(c["valid"] for c in calls)                       # every body was signed
    assert [c["answer"] for c in calls[:3]] == [500, 500, 200]
    assert calls[0]["body"] == calls[1]["body"] == calls[2]["body"]   # same event retried
    gaps = [calls[1]["time"] - calls[0]["time"], calls[2]["time"] - calls[1]["time"]]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.8 * 0.95            # 1 s, then 2 s backoff
    statuses = [d["status"] for d in receiver.delivered()]
    assert statuses == ["submitted", "processing", "complete"], statuses
    assert [c["event"] for c in calls if c["answer"] == 200] == [
        "job.submitted", "job.processing", "job.complete"]
    last = receiver.delivered()[-1]
    assert last["job_id"] == job_id and last["results"] == final["results"]


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


def test_private_address_policy_helpers():
    from mitraseti_server.jobs.webhooks import private_address_reason
    for url in ("http://127.0.0.1:9/h", "http://10.1.2.3/h", "http://192.168.0.7/h",
                "http://169.254.169.254/latest/meta-data", "http://[::1]/h",
                "http://0.0.0.0/h", "http://localhost/h"):
        assert "non-public" in (private_address_reason(url) or ""), url
    assert private_address_reason("http://8.8.8.8/h") is None       # a literal: no DNS
    assert "does not resolve" in private_address_reason("http://no-such-host.invalid/h")


def test_refusing_private_targets_at_submit_and_delivery(start_server, tmp_path):
    import asyncio

    from mitraseti_server.auth.keys import create_api_key
    from mitraseti_server.jobs.webhooks import WebhookSender

    server = start_server(webhook_allow_private=False)
    store = server.services.store
    user = store.create_user("ivo", "institution")
    key = create_api_key(store, user.user_id, "test").api_key
    r = requests.post(server.url + "/analyze", headers={"x-api-key": key}, timeout=30,
                      json={"file_key": f"uploads/{user.user_id}/u/obs.fil",
                            "webhook_url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 400, r.text
    assert r.json()["parameter"] == "webhook_url" and "non-public" in r.json()["error"]
    # a receiver on loopback never gets a call from a sender that refuses private targets
    receiver = Receiver(b"s" * 32)
    try:
        sender = WebhookSender(b"s" * 32, attempts=1, allow_private=False)
        assert asyncio.run(sender.deliver(receiver.url, b"{}", "complete")) is False
        assert receiver.calls == [] and sender.failed == 1
        open_sender = WebhookSender(b"s" * 32, attempts=1)
        assert asyncio.run(open_sender.deliver(receiver.url, b"{}", "complete")) is True
        assert len(receiver.calls) == 1
    finally:
        receiver.close()
