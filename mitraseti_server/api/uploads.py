"""POST /upload-url, /complete-upload, /abort-upload (``storage.uploads.UploadService``,
awaited on the IOLoop)."""
from __future__ import annotations

from mitraseti_server.api.base import BaseHandler


class UploadUrlHandler(BaseHandler):
    async def post(self) -> None:
        body = self.body("UploadUrlRequest")
        self.write_json(await self.services.uploads.plan(self.user, body["filename"],
                                                         body.get("file_size")))


class CompleteUploadHandler(BaseHandler):
    async def post(self) -> None:
        body = self.body("CompleteUploadRequest")
        self.write_json(await self.services.uploads.complete(
            self.user, body["file_key"], body["upload_id"], body["parts"]))


class AbortUploadHandler(BaseHandler):
    async def post(self) -> None:
        body = self.body("AbortUploadRequest")
        self.write_json(await self.services.uploads.abort(self.user, body["file_key"],
                                                          body["upload_id"]))


HANDLERS = [
    (r"/upload-url", UploadUrlHandler),
    (r"/complete-upload", CompleteUploadHandler),
    (r"/abort-upload", AbortUploadHandler),
]
