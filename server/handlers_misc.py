"""GET /health, GET /usage, POST /reports, GET /openapi.json."""
from __future__ import annotations

import json

import mitraseti

from .handlers_base import ApiError, BaseHandler, Services
from .openapi import build_openapi

ERROR_TYPES = ("pipeline_failure", "user_report")
MAX_DESCRIPTION = 10_000
MAX_METADATA = 64 * 1024


class HealthHandler(BaseHandler):
    auth_required = False

    def get(self) -> None:
        self.write_json({"status": "healthy", "version": mitraseti.__version__})


def jobs_this_month(services: Services, user_id: str, now: float) -> int:
    """Jobs the user created this UTC calendar month (the jobs room keeps the counter)."""
    if services.job_store is not None:
        return int(services.job_store.usage_this_month(user_id, now=now))
    return 0


class UsageHandler(BaseHandler):
    def get(self) -> None:
        tier = self.config.tier(self.user.tier)
        used = jobs_this_month(self.services, self.user.user_id, self.now())
        self.write_json({
            "user_id": self.user.user_id, "tier": self.user.tier,
            "usage_this_month": used, "limit": tier.files_per_month,
            "remaining": max(0, tier.files_per_month - used),
            "tier_details": {"files_per_month": tier.files_per_month,
                             "max_file_mb": tier.max_file_mb, "price": tier.price,
                             "retention_days": tier.retention_days},
        })


def job_owner(services: Services, job_id: str) -> str | None:
    """user_id of a job, or None when there is no such job."""
    if services.job_store is not None:
        job = services.job_store.get(job_id)
        return job.user_id if job is not None else None
    if services.store.has_table("jobs"):
        row = services.store.connect().execute("SELECT user_id FROM jobs WHERE job_id=?",
                                               (job_id,)).fetchone()
        return row[0] if row else None
    return None


class ReportsHandler(BaseHandler):
    def post(self) -> None:
        body = self.json_body()
        job_id = body.get("job_id")
        if not isinstance(job_id, str) or not job_id.strip():
            raise ApiError(400, "Missing job_id")
        error_type = body.get("error_type")
        if error_type is not None and error_type not in ERROR_TYPES:
            raise ApiError(400, "error_type must be pipeline_failure or user_report",
                           error_type=error_type)
        description = body.get("description")
        if description is not None and (not isinstance(description, str)
                                        or len(description) > MAX_DESCRIPTION):
            raise ApiError(400, f"description must be a string of at most {MAX_DESCRIPTION}"
                           " characters")
        metadata = body.get("metadata", {})
        if metadata is None:
            metadata = {}
        metadata_json = json.dumps(metadata)
        if not isinstance(metadata, dict) or len(metadata_json) > MAX_METADATA:
            raise ApiError(400, "metadata must be a JSON object (at most 64 KiB)")
        owner = job_owner(self.services, job_id)
        if owner is None:
            raise ApiError(404, "Job not found", job_id=job_id)
        if owner != self.user.user_id:
            raise ApiError(403, "Job belongs to a different user", job_id=job_id)
        report_id = self.store.add_report(user_id=self.user.user_id, job_id=job_id,
                                          error_type=error_type, description=description,
                                          metadata_json=metadata_json, now=self.now())
        self.write_json({"report_id": report_id, "message": "Report submitted. Thank you."},
                        status=201)


class OpenApiHandler(BaseHandler):
    auth_required = False

    def get(self) -> None:
        self.write_json(build_openapi(self.config.public_url + self.config.api_prefix))


HANDLERS = [
    (r"/health", HealthHandler),
    (r"/usage", UsageHandler),
    (r"/reports", ReportsHandler),
    (r"/openapi.json", OpenApiHandler),
]
