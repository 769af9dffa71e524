"""GET /health, GET /usage, POST /reports, GET /openapi.json."""
from __future__ import annotations

import mitraseti
from mitraseti_server.api.base import BaseHandler
from mitraseti_server.api.openapi import build_openapi


class HealthHandler(BaseHandler):
    auth_required = False

    def get(self) -> None:
        self.write_json({"status": "healthy", "version": mitraseti.__version__})


class UsageHandler(BaseHandler):
    async def get(self) -> None:
        self.write_json(await self.blocking(self.services.jobs.usage, self.user))


class ReportsHandler(BaseHandler):
    async def post(self) -> None:
        body = self.body("ReportRequest")
        report_id = await self.blocking(self.services.jobs.report, self.user, body)
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
