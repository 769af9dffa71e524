"""POST /upload-url, /complete-upload, /abort-upload (``storage.uploads.UploadService``)."""
from __future__ import annotations

from mitraseti_server.api.base import BaseHandler


class UploadUrlHandler(BaseHandler):
    async def post(self) -> None:
        body = self.body("UploadUrlRequest")
        plan = await self.blocking(self.services.uploads.plan, self.user, body["filename"],
                                   body.get("file_size"))
        self.write_json(plan)


class CompleteUploadHandler(BaseHandler):
    async def post(self) -> None:
        body = self.body("CompleteUploadRequest")
        done = await self.blocking(self.services.uploads.complete, self.user,
                                   body["file_key"], body["upload_id"], body["parts"])
        self.write_json(done)


class AbortUploadHandler(BaseHandler):
    async def post(self) -> None:
        body = self.body("AbortUploadRequest")
        done = await self.blocking(self.services.uploads.abort, self.user, body["file_key"],
                                   body["upload_id"])
        self.write_json(done)


HANDLERS = [
    (r"/upload-url", UploadUrlHandler),
    (r"/complete-upload", CompleteUploadHandler),
    (r"/abort-upload", AbortUploadHandler),
]
