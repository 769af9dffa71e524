"""The jobs service: what POST /analyze, GET /jobs, GET /jobs/{id}, the download route and
job control (cancel, retry) do.

Handlers parse the request (the body already validated against the OpenAPI schema) and
call one method here; the methods block (SQLite, blob-store round trips, a DNS lookup for
webhook targets), so the API runs them off the IOLoop, except ``download``, a coroutine
the API awaits (the blob store's own coroutines). Errors are typed
(``mitraseti_server.errors``); the API maps them to status codes.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath

from mitraseti.errors import ParameterError
from mitraseti.export.formats import DOWNLOAD_FORMATS, INLINE_FORMATS
from mitraseti.search.params import SearchParams
from mitraseti_server.errors import Conflict, Forbidden, NotFound, PayloadTooLarge
from mitraseti_server.jobs import store as js
from mitraseti_server.jobs.executor import BaseExecutor
from mitraseti_server.jobs.sweeper import Retention, job_prefix
from mitraseti_server.jobs.webhooks import (private_address_reason, url_host,
                                            validate_webhook_url)
from mitraseti_server.storage.database import User
from mitraseti_server.storage.uploads import UploadService

log = logging.getLogger("mitraseti_server.jobs")
SEARCH_PARAMS = ("max_drift", "min_drift", "snr", "n_coarse_chan")
DOWNLOAD_URL_TTL_S = 3600
MAX_REPORT_METADATA = 64 * 1024      # bytes of a report's metadata as JSON


@dataclass
class Download:
    """One export: inline ``content`` (text/csv formats) or a signed ``url``."""

    format: str
    filename: str
    url: str | None = None
    content: bytes | None = None


def check_cadence(cadence: list[str] | None, file_key: str,
                  filter_level: int | None) -> None:
    """The rules of a cadence the schema cannot say; ParameterError naming the parameter.
    (The schema already checked: a list of 4-20 distinct non-empty keys, level 1-3.)"""
    if cadence is None:
        if filter_level is not None:
            raise ParameterError("filter_level applies to a cadence job only (give cadence)",
                                 parameter="filter_level")
        return
    if len(cadence) % 2:
        raise ParameterError(
            "cadence must alternate ON and OFF files, ON first (ABACAD, ABAB, ...): an even "
            f"number of files, got {len(cadence)}", parameter="cadence")
    if file_key != cadence[0]:
        raise ParameterError("file_key must be the first ON file of the cadence (cadence[0])",
                             parameter="file_key")


def search_params(body: dict) -> dict:
    """The request's search parameters, checked together (min_drift <= max_drift) and
    typed for papermill: floats, and n_coarse_chan an int."""
    given = {k: body[k] for k in SEARCH_PARAMS if body.get(k) is not None}
    SearchParams(**given)                       # ParameterError names the parameter
    return {k: int(v) if k == "n_coarse_chan" else float(v) for k, v in given.items()}


class JobService:
    """Submit, list, read and download jobs for a user."""

    def __init__(self, config, jobs: js.JobStore, uploads: UploadService,
                 executor: BaseExecutor, retention: Retention):
        self.config, self.jobs, self.uploads = config, jobs, uploads
        self.executor, self.retention = executor, retention

    # ---- POST /analyze ------------------------------------------------------------
    def submit(self, user: User, body: dict,
               sizes: dict[str, int | None] | None = None) -> js.Job:
        """Check the request, the files and the quotas, insert the job (one transaction)
        and hand it to the executor. A cadence job (``cadence``: file keys of a whole
        ON/OFF cadence, ``file_key`` its first) is one job for the concurrency limit and
        one file per key against the monthly quota; each file is checked like a single one
        (404 unknown or another user's, 413 over the tier's size). ``sizes``: the files'
        sizes already resolved by the API (``UploadService.owned_sizes``); a key missing
        there is looked up here."""
        file_key, cadence = body["file_key"], body.get("cadence")
        check_cadence(cadence, file_key, body.get("filter_level"))
        params = search_params(body)
        if cadence is not None:
            params.update(cadence=list(cadence), filter_level=int(body.get("filter_level", 3)))
        limits = self.config.tier(user.tier)
        webhook_url = body.get("webhook_url")
        if webhook_url is not None:
            self._check_webhook(user, limits, webhook_url)
        keys = cadence or [file_key]
        size = sum(self._checked_size(user, key, limits, cadence is not None, sizes or {})
                   for key in keys)
        filename = body.get("filename") or PurePosixPath(file_key).name
        job = self.jobs.submit(
            user_id=user.user_id, tier=user.tier, monthly_limit=limits.files_per_month,
            concurrent_limit=limits.concurrent_jobs, file_key=file_key, filename=filename,
            source_name=body.get("source_name") or filename, file_size=size, params=params,
            webhook_url=webhook_url, now=self.config.now(), files=len(keys))
        self.executor.notify(job)            # the "submitted" webhook, before any worker sees it
        self.executor.submit(job.job_id)
        self._prune(user)
        return job

    def _check_webhook(self, user: User, limits, url: str) -> None:
        problem = validate_webhook_url(url)
        if problem:
            raise ParameterError(problem, parameter="webhook_url")
        if not limits.webhooks:
            raise Forbidden("Webhooks require the Institution tier or above", tier=user.tier,
                            parameter="webhook_url")
        if not self.config.webhook_allow_private:
            reason = private_address_reason(url)
            if reason:
                raise ParameterError(reason, parameter="webhook_url")

    def _checked_size(self, user: User, file_key: str, limits, in_cadence: bool,
                      sizes: dict[str, int | None]) -> int:
        """Size (bytes) of the caller's upload; NotFound when unknown, unfinished or
        another user's, PayloadTooLarge over the tier's limit."""
        size = (sizes[file_key] if file_key in sizes
                else self.uploads.owned_size(user, file_key))
        if size is None:
            raise NotFound(f"File not found in S3 (upload first): {file_key}",
                           file_key=file_key)
        if size > limits.max_file_bytes:
            extra = {"file_key": file_key} if in_cadence else {}
            raise PayloadTooLarge("File exceeds tier size limit", file_size=size,
                                  max_size_mb=limits.max_file_mb, tier=user.tier, **extra)
        return size

    # ---- reads --------------------------------------------------------------------
    def list(self, user: User, limit: int,
             cursor: str | None = None) -> tuple[list[js.Job], str | None]:
        """One page of the user's jobs, most recent first, after ``cursor`` (from a
        previous page); returns (jobs, the next page's cursor or None at the end)."""
        after = js.decode_cursor(cursor) if cursor else None
        found = self.jobs.list_for_user(user.user_id, limit + 1, after=after)
        page = found[:limit]
        return page, js.encode_cursor(page[-1]) if len(found) > limit else None

    def own(self, user: User, job_id: str) -> js.Job:
        """The job if it is the caller's: NotFound (no such job) or Forbidden otherwise."""
        job = None
        try:
            uuid.UUID(job_id)
            job = self.jobs.get(job_id)
        except ValueError:
            pass
        if job is None:
            raise NotFound("Job not found", job_id=job_id)
        if job.user_id != user.user_id:
            raise Forbidden("Job belongs to a different user", job_id=job_id)
        return job

    def describe(self, user: User, job_id: str) -> dict:
        """The GET /jobs/{id} body: the caller's job JSON and, for a job with a webhook,
        ``webhook {"url_host", "deliveries": [...]}`` (the outbox rows, in order; the
        URL's path and query are not shown: they may hold the receiver's token)."""
        job = self.own(user, job_id)
        out = job.public()
        if job.webhook_url:
            out["webhook"] = {"url_host": url_host(job.webhook_url),
                              "deliveries": self.executor.outbox.for_job(job.job_id)}
        return out

    # ---- job control --------------------------------------------------------------
    def cancel(self, user: User, job_id: str) -> js.Job:
        """Cancel the caller's queued or running job (Conflict once finished). The row
        changes at once, freeing the concurrency slot; the executor running the job sees
        it within about a second, stops the kernel and keeps the partial report. A queued
        job was never started, so its webhook and history pruning happen here."""
        job = self.own(user, job_id)
        changed, before = self.jobs.cancel(job.job_id)
        if not changed:
            raise Conflict("Job already finished", job_id=job.job_id,
                           status=before or job.status)
        if before == js.SUBMITTED:
            self.executor.notify(job.job_id)
            self._prune(user)
        return self.jobs.get(job.job_id) or job

    def retry(self, user: User, job_id: str) -> js.Job:
        """Queue the caller's failed or cancelled job again under the same id (Conflict
        otherwise; QuotaExceeded at the concurrency limit). The monthly quota is not
        charged again: it counts the files a user submits, and these were counted when
        the job was first submitted. The last run's exports are deleted."""
        job = self.own(user, job_id)
        limits = self.config.tier(user.tier)
        old, new = self.jobs.retry(job.job_id, tier=user.tier,
                                   concurrent_limit=limits.concurrent_jobs,
                                   now=self.config.now())
        # the new run uploads its exports when it ends, seconds at least after this
        if old.exports:
            self.uploads.blobs.delete_prefix(job_prefix(old.user_id, old.job_id))
        self.executor.notify(new)
        self.executor.submit(new.job_id)
        return new

    def _prune(self, user: User) -> None:
        try:
            self.retention.prune_history(user.user_id,
                                         int(self.config.tier(user.tier).job_history))
        except Exception:  # noqa: BLE001 - the request succeeded; pruning is housekeeping
            log.exception("pruning the job history of %s failed", user.user_id)

    async def download(self, user: User, job_id: str, fmt: str) -> Download:
        """One export of the caller's job: inline CSV, or a signed URL valid one hour
        (awaited on the IOLoop: the job row is read in a thread, the blob store's
        coroutines do the rest)."""
        if fmt not in DOWNLOAD_FORMATS:
            raise ParameterError("Invalid format parameter", parameter="format",
                                 expected=f"one of {list(DOWNLOAD_FORMATS)}")
        job = await asyncio.to_thread(self.own, user, job_id)
        key = job.exports.get(fmt)
        blobs = self.uploads.blobs
        if key is None or not await blobs.aexists(key):
            raise NotFound("Format not yet available", format=fmt, job_id=job_id,
                           job_status=job.status, exports_ready=job.exports_ready)
        filename = PurePosixPath(key).name
        if fmt in INLINE_FORMATS:
            return Download(fmt, filename, content=await blobs.aread_bytes(key))
        return Download(fmt, filename,
                        url=await blobs.asigned_url(key, "GET", DOWNLOAD_URL_TTL_S))

    # ---- usage and reports --------------------------------------------------------
    def usage(self, user: User) -> dict:
        """The GET /usage body: files this UTC month against the tier's quotas."""
        tier = self.config.tier(user.tier)
        used = self.jobs.usage_this_month(user.user_id, now=self.config.now())
        return {"user_id": user.user_id, "tier": user.tier, "usage_this_month": used,
                "limit": tier.files_per_month,
                "remaining": max(0, tier.files_per_month - used),
                "tier_details": {"files_per_month": tier.files_per_month,
                                 "max_file_mb": tier.max_file_mb, "price": tier.price,
                                 "retention_days": tier.retention_days}}

    def report(self, user: User, body: dict) -> str:
        """Store a report about the caller's job; returns its id."""
        metadata_json = json.dumps(body.get("metadata", {}))
        if len(metadata_json) > MAX_REPORT_METADATA:
            raise ParameterError("metadata must be a JSON object (at most 64 KiB)",
                                 parameter="metadata", expected="at most 64 KiB as JSON")
        job = self.own(user, body["job_id"])
        return self.jobs.store.add_report(
            user_id=user.user_id, job_id=job.job_id, error_type=body.get("error_type"),
            description=body.get("description"), metadata_json=metadata_json,
            now=self.config.now())
