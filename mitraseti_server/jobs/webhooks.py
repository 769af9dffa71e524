"""Signed job-status webhooks (Institution and Enterprise tiers).

On every status change the job JSON (the body of GET /jobs/{id}) is POSTed to the job's
``webhook_url`` with headers

    Content-Type: application/json
    X-MitraSETI-Event: job.<status>
    X-MitraSETI-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the server secret>

Receivers verify with ``verify_signature(body, header, secret)``; the secret is the
server's ``Config.secret_key`` (data_dir/secret.key). Delivery is non-blocking (Tornado
AsyncHTTPClient on the server's IOLoop), in order per job, and retried with exponential
backoff: ``attempts`` tries (default 4) waiting ``backoff_s * 2**i`` (1 s, 2 s, 4 s) between
them. A 2xx answer counts as delivered.

With ``Config.webhook_allow_private = false`` (advised where untrusted users hold
webhook-enabled accounts) a URL whose host resolves to a loopback, private, link-local,
multicast, reserved or unspecified address is refused at submission (400) and checked
again before every delivery (a DNS answer may change in between).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import itertools
import json
import logging
import socket
import threading
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger("mitraseti_server.webhooks")

SIGNATURE_HEADER = "X-MitraSETI-Signature"
EVENT_HEADER = "X-MitraSETI-Event"


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


STATUS_RANK = {"submitted": 0, "processing": 1, "complete": 2, "failed": 2}


class WebhookSender:
    """Queues deliveries per job and sends them on the server's IOLoop, oldest status
    first; ``notify`` is safe to call from any thread."""

    def __init__(self, secret: bytes, *, attempts: int = 4, backoff_s: float = 1.0,
                 timeout_s: float = 10.0, allow_private: bool = True):
        self.secret = secret
        self.allow_private = bool(allow_private)
        self.attempts = max(1, int(attempts))
        self.backoff_s = float(backoff_s)
        self.timeout_s = float(timeout_s)
        self.loop = None                     # tornado IOLoop, set by bind()
        self._mutex = threading.Lock()
        self._queues: dict[str, list] = {}   # job_id -> [(rank, seq, url, body, status)]
        self._draining: set[str] = set()
        self._seq = itertools.count()
        self.delivered = 0
        self.failed = 0

    def bind(self, io_loop) -> None:
        """Attach to the server's tornado IOLoop."""
        self.loop = io_loop

    def notify(self, url: str | None, job_id: str, payload: dict[str, Any]) -> None:
        """Queue one delivery of ``payload`` (no-op without url or loop). Events of one
        job go out one at a time, ordered by status (submitted < processing < finished),
        so a fast worker thread cannot overtake the request that created the job."""
        if not url or self.loop is None:
            return
        status = str(payload.get("status", ""))
        body = json.dumps(payload, separators=(",", ":")).encode()
        with self._mutex:
            self._queues.setdefault(job_id, []).append(
                (STATUS_RANK.get(status, 3), next(self._seq), url, body, status))
        self.loop.add_callback(self._drain, job_id)

    async def _drain(self, job_id: str) -> None:
        if job_id in self._draining:          # runs on the loop thread only
            return
        self._draining.add(job_id)
        try:
            while True:
                with self._mutex:
                    queue = self._queues.get(job_id)
                    if not queue:
                        self._queues.pop(job_id, None)
                        return
                    queue.sort()
                    _, _, url, body, status = queue.pop(0)
                await self.deliver(url, body, status)
        finally:
            self._draining.discard(job_id)

    async def deliver(self, url: str, body: bytes, status: str) -> bool:
        """POST with retries; True when a 2xx came back."""
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest

        headers = {"Content-Type": "application/json", EVENT_HEADER: f"job.{status}",
                   SIGNATURE_HEADER: sign(body, self.secret), "User-Agent": "MitraSETI-webhook"}
        client = AsyncHTTPClient()
        if not self.allow_private:
            loop = asyncio.get_running_loop()
            reason = await loop.run_in_executor(None, private_address_reason, url)
            if reason:
                log.warning("webhook for job.%s not sent: %s", status, reason)
                self.failed += 1
                return False
        for attempt in range(self.attempts):
            try:
                resp = await client.fetch(HTTPRequest(
                    url, method="POST", body=body, headers=headers,
                    request_timeout=self.timeout_s, follow_redirects=False),
                    raise_error=False)
                if 200 <= resp.code < 300:
                    self.delivered += 1
                    return True
                log.warning("webhook %s answered %s (attempt %d/%d)", url, resp.code,
                            attempt + 1, self.attempts)
            except Exception as exc:  # network errors: retry like a 5xx
                log.warning("webhook %s failed: %s (attempt %d/%d)", url, exc,
                            attempt + 1, self.attempts)
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self.backoff_s * (2 ** attempt))
        self.failed += 1
        return False
