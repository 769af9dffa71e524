"""Signed job-status webhooks (Institution and Enterprise tiers), sent from a durable
outbox in the database (``jobs.outbox``).

On every status change the executor queues the job JSON (the body of GET /jobs/{id} at
that moment) as one ``webhook_deliveries`` row; a ``WebhookSender`` on the server's IOLoop
POSTs due rows to the job's ``webhook_url`` with headers

    Content-Type: application/json
    X-MitraSETI-Event: job.<status>
    X-MitraSETI-Delivery: <delivery id> (the same on every retry of one event)
    X-MitraSETI-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the server secret>

Receivers verify with ``verify_signature(body, header, secret)``; the secret is the
server's ``Config.secret_key`` (data_dir/secret.key). A 2xx answer counts as delivered.
Anything else is tried again, up to ``attempts`` tries in all (default 10), waiting
``backoff_s * 2**i`` capped at ``backoff_max_s`` after failed attempt i+1 (default 10 s,
20 s, ... 2560 s: 5110 s, 85 min, from the first attempt to the last). Rows survive
restarts; several API processes share them (``Outbox.claim``), one job's events go out one
at a time and in order, and a row left ``sending`` by an ended process is sent again, so
delivery is at least once (receivers may drop a repeated X-MitraSETI-Delivery).

With ``Config.webhook_allow_private = false`` (advised where untrusted users hold
webhook-enabled accounts) a URL whose host resolves to a loopback, private, link-local,
multicast, reserved or unspecified address is refused at submission (400) and checked
again before every delivery (a DNS answer may change in between): such a delivery fails
at once, unsent.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from mitraseti_server.jobs.outbox import DELIVERED, FAILED, PENDING, Outbox

log = logging.getLogger("mitraseti_server.webhooks")

SIGNATURE_HEADER = "X-MitraSETI-Signature"
EVENT_HEADER = "X-MitraSETI-Event"
DELIVERY_HEADER = "X-MitraSETI-Delivery"
POLL_S = 1.0                 # look for due deliveries this often (notify wakes it at once)
LEASE_S = 300.0              # a claimed delivery not recorded by then is sent again
RECLAIM_EVERY_S = 30.0       # look for deliveries of ended senders this often
BATCH = 16                   # deliveries claimed (and sent concurrently) per round
_RUNNING: set[str] = set()   # owners of the senders started in this process


def sign(body: bytes, secret: bytes) -> str:
    """Header value ``sha256=<hex>`` for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: bytes) -> bool:
    """True when ``header`` is the valid signature of ``body`` (constant-time compare)."""
    return bool(header) and hmac.compare_digest(sign(body, secret), header)


def validate_webhook_url(url: Any) -> str | None:
    """None when ``url`` is an absolute http(s) URL with a host, else the reason."""
    if not isinstance(url, str) or not url:
        return "webhook_url must be a string"
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "webhook_url must be an absolute http:// or https:// URL"
    return None


def private_address_reason(url: str) -> str | None:
    """None when every address the URL's host resolves to is public, else the reason
    (blocking: resolves the name)."""
    host = urlparse(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        return f"webhook_url host {host!r} does not resolve ({exc})"
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if (addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_multicast
                or addr.is_reserved or addr.is_unspecified):
            return (f"webhook_url host {host!r} resolves to a non-public address {addr}; "
                    "this server only sends webhooks to public addresses")
    return None




def backoff_schedule(attempts: int, backoff_s: float, backoff_max_s: float) -> list[float]:
    """Seconds waited after each failed attempt but the last: ``backoff_s * 2**i``
    capped at ``backoff_max_s``; their sum is the time from the first attempt to the
    last."""
    return [min(float(backoff_s) * 2 ** i, float(backoff_max_s))
            for i in range(max(1, int(attempts)) - 1)]


def url_host(url: str) -> str:
    """``host`` or ``host:port`` of a URL: what GET /jobs/{id} shows of a webhook target
    (its path and query may hold a receiver's secret token)."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parsed.port}" if parsed.port else host


def sender_is_gone(owner: str) -> bool:
    """True when the sender ``owner`` (``host:pid:token``) has ended: a stopped sender of
    this process, or a process of this host that has exited. Senders of other hosts count
    as alive; their lease (``LEASE_S``) ends their claims."""
    try:
        host, pid, _token = owner.rsplit(":", 2)
        pid_n = int(pid)
    except ValueError:
        return True
    if host != socket.gethostname():
        return False
    if pid_n == os.getpid():
        return owner not in _RUNNING
    return not Path(f"/proc/{pid_n}").exists()


class WebhookSender:
    """Queues events in the outbox (``notify``, from any thread) and delivers them from
    a task on the server's IOLoop (``start``/``stop``); database work runs in threads."""

    def __init__(self, outbox: Outbox, secret: bytes, *, owner: str, attempts: int = 10,
                 backoff_s: float = 10.0, backoff_max_s: float = 3600.0,
                 timeout_s: float = 10.0, allow_private: bool = True,
                 clock: Callable[[], float] = time.time):
        self.outbox, self.secret, self.owner, self.clock = outbox, secret, owner, clock
        self.allow_private = bool(allow_private)
        self.attempts = max(1, int(attempts))
        self.schedule = backoff_schedule(self.attempts, backoff_s, backoff_max_s)
        self.timeout_s = float(timeout_s)
        self.loop = None                     # tornado IOLoop, set by start()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False

    # ---- producers (any thread) -------------------------------------------------------
    def notify(self, job_id: str, url: str, payload: dict[str, Any],
               created_ns: int | None = None) -> str:
        """Queue ``payload`` (event ``job.<status>``) for ``url``; returns the delivery
        id. ``created_ns``: the job's creation, which orders its first event first."""
        body = json.dumps(payload, separators=(",", ":"))
        delivery_id = self.outbox.add(job_id=job_id, event=f"job.{payload.get('status')}",
                                      url=url, body=body, now=self.clock(),
                                      first_ns=created_ns)
        if self.loop is not None:
            self.loop.add_callback(self._poke)
        return delivery_id

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # ---- life cycle (on the IOLoop) ---------------------------------------------------
    def start(self, io_loop) -> None:
        """Start delivering on ``io_loop`` (a tornado IOLoop)."""
        self.loop, self._stopping = io_loop, False
        _RUNNING.add(self.owner)
        io_loop.add_callback(self._begin)

    def _begin(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        """Stop delivering; this sender's claimed rows go back to pending (blocking)."""
        self._stopping = True
        _RUNNING.discard(self.owner)
        if self.loop is not None and self._task is not None:
            self.loop.add_callback(self._task.cancel)
        try:
            self.outbox.release(self.owner, self.clock())
        except Exception:  # noqa: BLE001 - shutdown goes on; reclaim() finds them later
            log.exception("releasing claimed webhook deliveries failed")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        reclaimed = -math.inf
        while not self._stopping:
            self._wake.clear()
            sent = 0
            try:
                if time.monotonic() - reclaimed >= RECLAIM_EVERY_S:
                    reclaimed = time.monotonic()
                    await loop.run_in_executor(None, self.outbox.reclaim, self.clock(),
                                               sender_is_gone)
                sent = await self.run_once()
            except Exception:  # noqa: BLE001 - e.g. a locked database: try again soon
                log.exception("webhook outbox round failed")
            if not sent:                     # sent some: the next events may be due now
                try:
                    await asyncio.wait_for(self._wake.wait(), POLL_S)
                except asyncio.TimeoutError:
                    pass

    async def run_once(self) -> int:
        """Claim the due deliveries and send them concurrently; returns how many."""
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(None, self.outbox.claim, self.owner, self.clock(),
                                          LEASE_S, BATCH)
        await asyncio.gather(*(self.send(row) for row in rows))
        return len(rows)

    # ---- one attempt ------------------------------------------------------------------
    async def send(self, row: dict) -> str:
        """POST one claimed delivery and record the outcome; returns the new state."""
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest

        loop = asyncio.get_running_loop()
        url, body, event = row["url"], row["body"].encode(), row["event"]
        code, error = None, None
        reason = (None if self.allow_private else
                  await loop.run_in_executor(None, private_address_reason, url))
        if reason:
            log.warning("webhook %s of job %s not sent: %s", event, row["job_id"], reason)
            return await self._record(row, FAILED, None, reason)
        headers = {"Content-Type": "application/json", EVENT_HEADER: event,
                   DELIVERY_HEADER: row["delivery_id"],
                   SIGNATURE_HEADER: sign(body, self.secret),
                   "User-Agent": "MitraSETI-webhook"}
        try:
            resp = await AsyncHTTPClient().fetch(HTTPRequest(
                url, method="POST", body=body, headers=headers,
                request_timeout=self.timeout_s, follow_redirects=False), raise_error=False)
            code = resp.code
            error = None if 200 <= code < 300 else f"HTTP {code}"
        except Exception as exc:  # noqa: BLE001 - network errors are failed attempts
            code, error = getattr(exc, "code", None), f"{type(exc).__name__}: {exc}"
        if error is None:
            return await self._record(row, DELIVERED, code, None)
        tries = int(row["attempts"]) + 1
        log.warning("webhook %s of job %s: %s (attempt %d/%d)", event, row["job_id"],
                    error, tries, self.attempts)
        if tries >= self.attempts:
            return await self._record(row, FAILED, code, error)
        retry_at = math.ceil(self.clock() + self.schedule[tries - 1])
        return await self._record(row, PENDING, code, error, retry_at)

    async def _record(self, row: dict, state: str, code: int | None, error: str | None,
                      retry_at: float | None = None) -> str:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: self.outbox.record(
            row["delivery_id"], self.owner, state, now=self.clock(), code=code,
            error=error, retry_at=retry_at))
        return state
