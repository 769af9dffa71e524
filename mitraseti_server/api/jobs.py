"""Job routes: POST /analyze, GET /jobs, GET /jobs/{id}, GET /jobs/{id}/download.

Each handler parses the request and calls one method of ``jobs.service.JobService``;
errors are typed and answered by ``api.base``. See docs/api.md for bodies and statuses.
"""
from __future__ import annotations

from mitraseti.errors import ParameterError
from mitraseti_server.api.base import BaseHandler

MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 50


class AnalyzeHandler(BaseHandler):
    """POST /analyze: 202 with the new job's id (quota check and insert in one
    transaction; a ``cadence`` makes it a whole ON/OFF cadence job)."""

    async def post(self) -> None:
        body = self.body("AnalyzeRequest")
        job = await self.blocking(self.services.jobs.submit, self.user, body)
        self.write_json({
            "job_id": job.job_id, "status": job.status,
            "message": "Processing started. Poll GET /jobs/{job_id} for status.",
            "status_url": f"/jobs/{job.job_id}",
        }, status=202)


class JobsListHandler(BaseHandler):
    """GET /jobs?limit=N (1-100, default 50), most recent first."""

    async def get(self) -> None:
        raw = self.get_query_argument("limit", str(DEFAULT_LIST_LIMIT))
        try:
            limit = int(raw)
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ParameterError("Invalid limit parameter", parameter="limit",
                                 expected=f"an integer 1-{MAX_LIST_LIMIT}")
        jobs = await self.blocking(self.services.jobs.list, self.user, limit)
        self.write_json([j.public() for j in jobs])


class JobHandler(BaseHandler):
    """GET /jobs/{job_id}."""

    async def get(self, job_id: str) -> None:
        job = await self.blocking(self.services.jobs.own, self.user, job_id)
        self.write_json(job.public())


class DownloadHandler(BaseHandler):
    """GET /jobs/{job_id}/download?format=...: signed URL, or inline CSV (csv, events)."""

    async def get(self, job_id: str) -> None:
        fmt = self.get_query_argument("format", "json")
        found = await self.blocking(self.services.jobs.download, self.user, job_id, fmt)
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
]
