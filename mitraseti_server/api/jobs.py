"""Job routes: POST /analyze, GET /jobs, GET and DELETE /jobs/{id}, POST /jobs/{id}/cancel,
POST /jobs/{id}/retry, GET /jobs/{id}/download.

Each handler parses the request and calls one method of ``jobs.service.JobService``;
errors are typed and answered by ``api.base``. See docs/api.md for bodies and statuses.
"""
from __future__ import annotations

from urllib.parse import urlencode

from mitraseti.errors import ParameterError
from mitraseti_server.api.base import BaseHandler

MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 50


def accepted(job) -> dict:
    """The 202 body of POST /analyze and POST /jobs/{id}/retry."""
    return {"job_id": job.job_id, "status": job.status,
            "message": "Processing started. Poll GET /jobs/{job_id} for status.",
            "status_url": f"/jobs/{job.job_id}"}


class AnalyzeHandler(BaseHandler):
    """POST /analyze: 202 with the new job's id (quota check and insert in one
    transaction; a ``cadence`` makes it a whole ON/OFF cadence job)."""

    async def post(self) -> None:
        body = self.body("AnalyzeRequest")
        keys = body.get("cadence") or [body["file_key"]]
        sizes = await self.services.uploads.owned_sizes(self.user, keys)   # on the IOLoop
        job = await self.blocking(self.services.jobs.submit, self.user, body, sizes)
        self.write_json(accepted(job), status=202)


class JobsListHandler(BaseHandler):
    """GET /jobs?limit=N&cursor=C (limit 1-100, default 50), most recent first; when more
    jobs follow, ``Link: <...>; rel="next"`` and ``X-Next-Cursor`` name the next page."""

    async def get(self) -> None:
        raw = self.get_query_argument("limit", str(DEFAULT_LIST_LIMIT))
        try:
            limit = int(raw)
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ParameterError("Invalid limit parameter", parameter="limit",
                                 expected=f"an integer 1-{MAX_LIST_LIMIT}")
        cursor = self.get_query_argument("cursor", None) or None
        jobs, following = await self.blocking(self.services.jobs.list, self.user, limit,
                                               cursor)
        if following:
            query = urlencode({"limit": limit, "cursor": following})
            url = f"{self.request.protocol}://{self.request.host}{self.request.path}"
            self.set_header("Link", f'<{url}?{query}>; rel="next"')
            self.set_header("X-Next-Cursor", following)
        self.write_json([j.public() for j in jobs])


class JobHandler(BaseHandler):
    """GET /jobs/{job_id}; DELETE /jobs/{job_id} cancels it (as POST .../cancel)."""

    async def get(self, job_id: str) -> None:
        self.write_json(await self.blocking(self.services.jobs.describe, self.user, job_id))

    async def delete(self, job_id: str) -> None:
        job = await self.blocking(self.services.jobs.cancel, self.user, job_id)
        self.write_json(job.public())


class CancelHandler(BaseHandler):
    """POST /jobs/{job_id}/cancel: 200 with the cancelled job; 409 once finished."""

    async def post(self, job_id: str) -> None:
        job = await self.blocking(self.services.jobs.cancel, self.user, job_id)
        self.write_json(job.public())


class RetryHandler(BaseHandler):
    """POST /jobs/{job_id}/retry: a failed or cancelled job queued again (202, as
    POST /analyze); 409 for another status, 429 at the concurrency limit."""

    async def post(self, job_id: str) -> None:
        job = await self.blocking(self.services.jobs.retry, self.user, job_id)
        self.write_json(accepted(job), status=202)


class DownloadHandler(BaseHandler):
    """GET /jobs/{job_id}/download?format=...: signed URL, or inline CSV (csv, events)."""

    async def get(self, job_id: str) -> None:
        fmt = self.get_query_argument("format", "json")
        found = await self.services.jobs.download(self.user, job_id, fmt)
        if found.content is not None:
            self.set_header("Content-Type", "text/csv; charset=utf-8")
            self.set_header("Content-Disposition", f'inline; filename="{found.filename}"')
            self.finish(found.content)
            return
        self.write_json({"download_url": found.url, "format": fmt,
                         "filename": found.filename})


HANDLERS = [
    (r"/analyze", AnalyzeHandler),
    (r"/jobs", JobsListHandler),
    (r"/jobs/([^/]+)", JobHandler),
    (r"/jobs/([^/]+)/download", DownloadHandler),
    (r"/jobs/([^/]+)/cancel", CancelHandler),
    (r"/jobs/([^/]+)/retry", RetryHandler),
]
