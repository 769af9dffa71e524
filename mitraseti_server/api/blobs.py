"""GET/HEAD/PUT /blobs/<key>: the local blob store's signed URLs, served by the app.

No account auth: the HMAC signature in the query (key, method, expiry, upload id, part,
max size) is the permission. PUT bodies are streamed to a temp file with MD5 computed on
the fly (returned as a quoted ``ETag``), never held in memory; a body larger than the
signed ``max_size`` is answered 413 and its partial file removed.
"""
from __future__ import annotations

import mimetypes

import tornado.web

from mitraseti_server.api.base import DRAIN_LIMIT, BaseHandler
from mitraseti_server.errors import BlobError, NotFound
from mitraseti_server.storage.blobs import CHUNK, PartWriter, validate_key
from mitraseti_server.storage.local import LocalBlobStore

CONTENT_TYPES = {".fil": "application/octet-stream", ".h5": "application/x-hdf5",
                 ".fits": "application/fits", ".json": "application/json",
                 ".csv": "text/csv", ".png": "image/png", ".ipynb": "application/json",
                 ".dat": "text/plain"}


def content_type(name: str) -> str:
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return CONTENT_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


@tornado.web.stream_request_body
class BlobHandler(BaseHandler):
    """Serves ``LocalBlobStore`` objects behind signed URLs."""

    auth_required = False

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # a signed URL is its own permission (as S3's): pages on any origin may PUT to it
        # and read the part's ETag (the dashboard's browser uploads)
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("Access-Control-Expose-Headers", "ETag")

    def options(self, key: str) -> None:
        """CORS preflight of a browser's PUT."""
        self.set_header("Access-Control-Allow-Methods", "GET, HEAD, PUT")
        self.set_header("Access-Control-Allow-Headers", "Content-Type")
        self.set_header("Access-Control-Max-Age", "3600")
        self.set_status(204)
        self.finish()

    def prepare(self) -> None:  # type: ignore[override]
        self.writer: PartWriter | None = None
        self.rejected = False
        if self.request.method == "OPTIONS":
            return
        blobs = self.services.blobs
        if not isinstance(blobs, LocalBlobStore):
            raise NotFound("Not found", path=self.request.path)
        self.key = self.path_args[0]
        query = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        self.extra = blobs.verify(self.key, self.request.method, query)
        validate_key(self.key)
        if self.request.method == "PUT":
            self._start_put(blobs)

    def _start_put(self, blobs: LocalBlobStore) -> None:
        try:
            upload_id = self.extra["upload_id"]
            max_size = int(self.extra["max_size"])
        except (KeyError, ValueError):
            raise BlobError("AccessDenied", "URL is not an upload URL") from None
        row = self.store.get_upload(upload_id)
        if row is None or row["file_key"] != self.key or row["state"] != "pending":
            raise BlobError("NoSuchUpload", "upload not found or already finished",
                            upload_id=upload_id)
        declared = self.request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_size:
            if int(declared) <= max_size + DRAIN_LIMIT:
                self.request.connection.set_max_body_size(int(declared))
            self.rejected = True
            raise BlobError("EntityTooLarge", "body is larger than the declared size",
                            max_size=max_size, size=int(declared))
        self.request.connection.set_max_body_size(max_size + DRAIN_LIMIT)
        part = self.extra.get("part")
        if part is not None:
            self.writer = blobs.part_writer(upload_id, int(part), max_size)
        else:
            self.writer = blobs.object_writer(self.key, max_size)

    def data_received(self, chunk: bytes) -> None:
        if self.writer is not None and not self._finished:
            self.writer.write(chunk)

    def put(self, key: str) -> None:
        writer, self.writer = self.writer, None
        if writer.too_large:
            raise BlobError("EntityTooLarge", "body is larger than the declared size",
                            max_size=writer.max_size)
        etag = writer.commit()
        upload_id = self.extra["upload_id"]
        if "part" in self.extra:
            self.services.blobs.record_part(upload_id, int(self.extra["part"]), etag)
        else:
            self.store.finish_upload(upload_id, "complete", self.now())
        self.set_header("ETag", etag)
        self.set_status(200)
        self.finish()

    def on_connection_close(self) -> None:
        if self.writer is not None:
            self.writer.discard()
            self.writer = None

    def on_finish(self) -> None:
        self.on_connection_close()

    async def get(self, key: str) -> None:
        await self._send(key, with_body=True)

    async def head(self, key: str) -> None:
        await self._send(key, with_body=False)

    async def _send(self, key: str, with_body: bool) -> None:
        blobs: LocalBlobStore = self.services.blobs
        path = blobs.local_path(key)
        if not path.is_file():
            raise BlobError("NoSuchKey", "object not found", file_key=key)
        name = self.extra.get("filename") or path.name
        safe = name.replace('"', "").replace("\\", "").replace("\r", "").replace("\n", "")
        self.set_header("Content-Type", content_type(name))
        self.set_header("Content-Disposition", f'attachment; filename="{safe}"')
        self.set_header("Content-Length", str(path.stat().st_size))
        if not with_body:
            self.finish()
            return
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()


HANDLERS = [(r"/blobs/(.+)", BlobHandler)]
