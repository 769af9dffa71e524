"""Job routes: POST /analyze, GET /jobs, GET /jobs/{id}, GET /jobs/{id}/download.

Bodies, status codes and error shapes are those of /openapi.json (docs/interfaces.md);
every error is JSON ``{"error": "...", ...context}``. ``HANDLERS`` is mounted by ``app.make_handlers`` under
the app's prefix.
"""
from __future__ import annotations

import logging
import re
import uuid
from pathlib import PurePosixPath

from tornado.ioloop import IOLoop

from mitraseti.search.params import ParameterError, SearchParams

from . import job_store as js
from .blobs import BlobError, validate_key
from .handlers_base import ApiError, BaseHandler
from .sweeper import prune_history
from .webhooks import private_address_reason, validate_webhook_url

log = logging.getLogger("mitraseti_server.jobs")
SEARCH_PARAMS = ("max_drift", "min_drift", "snr", "n_coarse_chan")
# download format -> file name of the export (also the reference's "filename" field)
DOWNLOAD_FORMATS = {
    "json": "results.json", "csv": "signals.csv", "catalog_json": "catalog.json",
    "classified": "classified.json", "fits": "catalog.fits", "waterfall": "waterfall.png",
    "waterfall_thumb": "waterfall_thumb.png", "notebook": "report.ipynb", "dat": "hits.dat",
    "events": "events.csv", "events_png": "events_png.zip",          # cadence jobs
}
INLINE_FORMATS = ("csv", "events")        # returned as text/csv, not as a signed URL
MAX_LIST_LIMIT = 100
MIN_CADENCE, MAX_CADENCE = 4, 20          # files in a cadence job
ANALYZE_FIELDS = ("file_key", "filename", "source_name", "webhook_url", *SEARCH_PARAMS,
                  "cadence", "filter_level")
_PARAM_IN_MESSAGE = re.compile(r"^(max_drift|min_drift|snr|n_coarse_chan)\b")


def _jobs(handler) -> js.JobStore:
    from .executor import job_store_of
    return job_store_of(handler.services)


def _blob(fn, *args):
    """Run a blocking blob-store call (S3 round trips) off the IOLoop."""
    return IOLoop.current().run_in_executor(None, fn, *args)


def _read_all(blobs, key: str) -> bytes:
    with blobs.open(key) as fh:
        return fh.read()


def parse_cadence(body: dict, file_key: str) -> list[str] | None:
    """The request's ``cadence`` (None when absent); ApiError 400 naming the parameter
    unless it is a list of MIN_CADENCE..MAX_CADENCE distinct non-empty file keys, even in
    number (ON and OFF alternate, ON first), starting with ``file_key``."""
    cadence = body.get("cadence")
    if cadence is None:
        if body.get("filter_level") is not None:
            raise ApiError(400, "filter_level applies to a cadence job only (give cadence)",
                           parameter="filter_level")
        return None

    def bad(message: str, **context):
        return ApiError(400, message, parameter="cadence", **context)

    if not isinstance(cadence, list):
        raise bad("cadence must be a list of file keys (observing order, ON first)")
    if not MIN_CADENCE <= len(cadence) <= MAX_CADENCE:
        raise bad(f"cadence must list {MIN_CADENCE} to {MAX_CADENCE} files (ON, OFF, ON, "
                  f"OFF, ...), got {len(cadence)}")
    for i, key in enumerate(cadence):
        if not isinstance(key, str) or not key:
            raise bad(f"cadence[{i}] must be a non-empty string (a file_key)", index=i)
    seen = set()
    for key in cadence:
        if key in seen:
            raise bad("cadence lists a file more than once", file_key=key)
        seen.add(key)
    if len(cadence) % 2:
        raise bad(f"cadence must alternate ON and OFF files, ON first (ABACAD, ABAB, ...): "
                  f"an even number of files, got {len(cadence)}")
    if file_key != cadence[0]:
        raise ApiError(400, "file_key must be the first ON file of the cadence (cadence[0])",
                       parameter="file_key", file_key=file_key)
    return list(cadence)


def parse_filter_level(body: dict) -> int:
    """``filter_level`` of a cadence job (default 3); ApiError 400 unless an integer 1-3."""
    level = body.get("filter_level")
    if level is None:
        return 3
    if isinstance(level, float) and level.is_integer():
        level = int(level)
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 3:
        raise ApiError(400, f"filter_level must be an integer 1, 2 or 3, got {level!r}",
                       parameter="filter_level")
    return level


class JobsBaseHandler(BaseHandler):
    """Shared lookups for the job routes."""

    def own_job(self, job_id: str) -> js.Job | None:
        """The job if it is the caller's; otherwise sends 404/403 and returns None."""
        job = None
        try:
            uuid.UUID(job_id)
            job = _jobs(self).get(job_id)
        except ValueError:
            pass
        if job is None:
            self.send_error_json(404, "Job not found", job_id=job_id)
            return None
        if job.user_id != self.user.user_id:
            self.send_error_json(403, "Job belongs to a different user", job_id=job_id)
            return None
        return job


class AnalyzeHandler(JobsBaseHandler):
    """POST /analyze: quota check + job insert in one transaction, then 202.

    With ``cadence`` (file keys of a whole ON/OFF cadence, observing order, ON first;
    ``file_key`` must be its first entry) and optional ``filter_level`` (1-3, default 3) the
    job is a cadence analysis: one job for the concurrency limit, one file per key against
    the monthly quota, every file checked like a single one (404 unknown or another user's,
    413 over the tier's size)."""

    async def post(self):
        body = self.json_body()          # 400 "Invalid JSON body" from BaseHandler
        unknown = sorted(set(body) - set(ANALYZE_FIELDS))
        if unknown:
            return self.send_error_json(400, f"Unknown field: {unknown[0]}",
                                        field=unknown[0], allowed=list(ANALYZE_FIELDS))
        file_key = body.get("file_key")
        if not isinstance(file_key, str) or not file_key:
            return self.send_error_json(400, "Missing file_key", field="file_key")
        for name in ("filename", "source_name"):
            if body.get(name) is not None and not isinstance(body[name], str):
                return self.send_error_json(400, f"{name} must be a string", field=name)
        params = self._search_params(body)
        if params is None:
            return
        cadence = parse_cadence(body, file_key)       # ApiError 400 naming the parameter
        if cadence is not None:
            params.update(cadence=cadence, filter_level=parse_filter_level(body))
        webhook_url = body.get("webhook_url")
        user = self.user
        limits = self.services.config.tiers[user.tier]
        if webhook_url is not None:
            problem = validate_webhook_url(webhook_url)
            if problem:
                return self.send_error_json(400, problem, field="webhook_url")
            if not limits.webhooks:
                return self.send_error_json(
                    403, "Webhooks require the Institution tier or above",
                    tier=user.tier, field="webhook_url")
            if not self.services.config.webhook_allow_private:
                reason = await IOLoop.current().run_in_executor(
                    None, private_address_reason, webhook_url)
                if reason:
                    return self.send_error_json(400, reason, field="webhook_url")
        size = 0
        for key in cadence or [file_key]:
            size += await self._checked_size(key, limits, cadence is not None)
        filename = body.get("filename") or PurePosixPath(file_key).name
        source_name = body.get("source_name") or filename
        try:
            job = _jobs(self).submit(
                user_id=user.user_id, tier=user.tier, monthly_limit=limits.files_per_month,
                concurrent_limit=limits.concurrent_jobs, file_key=file_key,
                filename=filename, source_name=source_name, file_size=size, params=params,
                webhook_url=webhook_url, now=self.now(), files=len(cadence or [file_key]))
        except js.QuotaExceeded as exc:     # send_error_json adds the Retry-After header
            return self.send_error_json(429, **exc.body)
        executor = getattr(self.services, "executor", None)
        if executor is None:
            _jobs(self).finish(job.job_id, js.FAILED, error="no executor is configured")
            return self.send_error_json(500, "Pipeline failed to start", job_id=job.job_id)
        executor.notify(job)             # the "submitted" webhook, before any worker sees it
        executor.submit(job.job_id)
        self.write_json({
            "job_id": job.job_id, "status": js.SUBMITTED,
            "message": "Processing started. Poll GET /jobs/{job_id} for status.",
            "status_url": f"/jobs/{job.job_id}",
        }, status=202)
        try:                             # the answer is sent: pruning must not fail it
            await _blob(prune_history, self.services, user.user_id, int(limits.job_history))
        except Exception:  # noqa: BLE001
            log.exception("pruning the job history of %s failed", user.user_id)

    async def _checked_size(self, file_key: str, limits, in_cadence: bool) -> int:
        """Size (bytes) of the caller's uploaded ``file_key``; ApiError 404 when it is
        unknown, not finished or another user's, 413 when it exceeds the tier."""
        blobs = self.services.blobs
        if not self._upload_row_complete(file_key) or not await _blob(blobs.exists, file_key):
            raise ApiError(404, f"File not found in S3 (upload first): {file_key}",
                           file_key=file_key)
        size = int(await _blob(blobs.size, file_key))
        if size > limits.max_file_bytes:
            extra = {"file_key": file_key} if in_cadence else {}
            raise ApiError(413, "File exceeds tier size limit", file_size=size,
                           max_size_mb=limits.max_file_mb, tier=self.user.tier, **extra)
        return size

    def _search_params(self, body: dict) -> dict | None:
        """Validated search parameters (typed for papermill); None after a 400."""
        given = {k: body[k] for k in SEARCH_PARAMS if body.get(k) is not None}
        try:
            params = SearchParams(**given)
        except ParameterError as exc:
            m = _PARAM_IN_MESSAGE.match(str(exc))
            self.send_error_json(400, str(exc), parameter=m.group(1) if m else None)
            return None
        out = {k: float(v) for k, v in given.items() if k != "n_coarse_chan"}
        if params.n_coarse_chan is not None:
            out["n_coarse_chan"] = int(params.n_coarse_chan)
        return out

    def _upload_row_complete(self, file_key: str) -> bool:
        """True when the caller has a finished upload of ``file_key`` (400 if malformed)."""
        try:
            validate_key(file_key, self.user.user_id, roots=("uploads",))
        except BlobError as exc:
            if exc.status == 403:       # another user's key: as unknown as a missing one
                return False
            raise ApiError(400, "Invalid file_key", file_key=file_key,
                           detail=exc.message) from None
        rows = self.services.store.connect().execute(
            "SELECT state FROM uploads WHERE file_key=? AND user_id=?",
            (file_key, self.user.user_id)).fetchall()
        return any(r[0] == "complete" for r in rows)


class JobsListHandler(JobsBaseHandler):
    """GET /jobs?limit=N (1-100, default 50), most recent first."""

    def get(self):
        raw = self.get_query_argument("limit", "50")
        try:
            limit = int(raw)
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_LIST_LIMIT:
            return self.send_error_json(400, "Invalid limit parameter", limit=raw,
                                        expected=f"integer 1-{MAX_LIST_LIMIT}")
        jobs = _jobs(self).list_for_user(self.user.user_id, limit)
        self.write_json([j.public() for j in jobs])


class JobHandler(JobsBaseHandler):
    """GET /jobs/{job_id}."""

    def get(self, job_id: str):
        job = self.own_job(job_id)
        if job is not None:
            self.write_json(job.public())


class DownloadHandler(JobsBaseHandler):
    """GET /jobs/{job_id}/download?format=...: signed URL, or inline CSV (csv, events)."""

    async def get(self, job_id: str):
        fmt = self.get_query_argument("format", "json")
        if fmt not in DOWNLOAD_FORMATS:
            return self.send_error_json(400, "Invalid format parameter", format=fmt,
                                        valid_formats=list(DOWNLOAD_FORMATS))
        job = self.own_job(job_id)
        if job is None:
            return
        key = job.exports.get(fmt)
        blobs = self.services.blobs
        if key is None or not await _blob(blobs.exists, key):
            return self.send_error_json(404, "Format not yet available", format=fmt,
                                        job_id=job_id, job_status=job.status,
                                        exports_ready=job.exports_ready)
        filename = PurePosixPath(key).name
        if fmt in INLINE_FORMATS:
            self.set_header("Content-Type", "text/csv; charset=utf-8")
            self.set_header("Content-Disposition", f'inline; filename="{filename}"')
            self.finish(await _blob(_read_all, blobs, key))
            return
        url = await _blob(blobs.signed_url, key, "GET", 3600)
        self.write_json({"download_url": url, "format": fmt, "filename": filename})


HANDLERS = [
    (r"/analyze", AnalyzeHandler),
    (r"/jobs", JobsListHandler),
    (r"/jobs/([^/]+)", JobHandler),
    (r"/jobs/([^/]+)/download", DownloadHandler),
]
