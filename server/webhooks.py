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
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
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


class WebhookSender:
    """Queues deliveries on an IOLoop; safe to call ``notify`` from any thread."""

    def __init__(self, secret: bytes, *, attempts: int = 4, backoff_s: float = 1.0,
                 timeout_s: float = 10.0):
        self.secret = secret
        self.attempts = max(1, int(attempts))
        self.backoff_s = float(backoff_s)
        self.timeout_s = float(timeout_s)
        self.loop = None                     # tornado IOLoop, set by bind()
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending = 0
        self.delivered = 0
        self.failed = 0

    def bind(self, io_loop) -> None:
        """Attach to the server's tornado IOLoop (call on that loop's thread)."""
        self.loop = io_loop

    def notify(self, url: str | None, job_id: str, payload: dict[str, Any]) -> None:
        """Schedule one delivery of ``payload`` (no-op without url or loop)."""
        if not url or self.loop is None:
            return
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.loop.add_callback(self._deliver_in_order, url, job_id, body,
                               str(payload.get("status", "")))

    async def _deliver_in_order(self, url: str, job_id: str, body: bytes, status: str):
        lock = self._locks.setdefault(job_id, asyncio.Lock())
        self._pending += 1
        try:
            async with lock:
                await self.deliver(url, body, status)
        finally:
            self._pending -= 1
            if not lock.locked() and self._pending == 0:
                self._locks.pop(job_id, None)

    async def deliver(self, url: str, body: bytes, status: str) -> bool:
        """POST with retries; True when a 2xx came back."""
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest

        headers = {"Content-Type": "application/json", EVENT_HEADER: f"job.{status}",
                   SIGNATURE_HEADER: sign(body, self.secret), "User-Agent": "MitraSETI-webhook"}
        client = AsyncHTTPClient()
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
