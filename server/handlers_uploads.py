"""POST /upload-url, /complete-upload, /abort-upload, and the stale-upload sweep.

Single uploads (declared size <= 50 MB, or no size) get one signed PUT URL; larger ones a
multipart upload with one signed URL per 10 MB part, finished by /complete-upload with the
parts' ETags (checked like S3) or cancelled by /abort-upload.
"""
from __future__ import annotations

import logging
import math
import uuid

from tornado.ioloop import IOLoop

from .blobs import BlobError, validate_key
from .config import MB
from .handlers_base import ApiError, BaseHandler, Services

log = logging.getLogger("mitraseti_server.uploads")
EXTENSIONS = (".fil", ".h5")


def clean_filename(value: object) -> str:
    """A bare file name ending in .fil/.h5; ApiError 400 otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "Missing filename")
    name = value.strip()
    if ("/" in name or "\\" in name or "\x00" in name or name in (".", "..")
            or len(name) > 255 or any(ord(c) < 32 for c in name)):
        raise ApiError(400, "Invalid filename: expected a bare file name", filename=name)
    if not name.lower().endswith(EXTENSIONS):
        raise ApiError(400, "Unsupported file type: filename must end in .fil or .h5",
                       filename=name, allowed=list(EXTENSIONS))
    return name


def _blob_call(fn, *args):
    """Run a (blocking) blob-store call off the IOLoop."""
    return IOLoop.current().run_in_executor(None, fn, *args)


def _pending_upload(services: Services, user_id: str, body: dict) -> dict:
    """The pending upload named by body's file_key + upload_id, checked for ownership."""
    key, upload_id = body.get("file_key"), body.get("upload_id")
    if not key:
        raise ApiError(400, "Missing file_key")
    if not isinstance(upload_id, str) or not upload_id:
        raise ApiError(400, "Missing upload_id")
    validate_key(key, user_id, roots=("uploads",))
    row = services.store.get_upload(upload_id)
    if row is None or row["file_key"] != key or row["state"] != "pending":
        raise ApiError(404, "NoSuchUpload", message="upload not found or already finished",
                       upload_id=upload_id)
    if row["user_id"] != user_id:
        raise ApiError(403, "AccessDenied", message="upload belongs to another user")
    return row


class UploadUrlHandler(BaseHandler):
    async def post(self) -> None:
        body = self.json_body()
        filename = clean_filename(body.get("filename"))
        size = body.get("file_size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                 or size < 0):
            raise ApiError(400, "file_size must be a non-negative integer (bytes)",
                           file_size=size)
        tier = self.config.tier(self.user.tier)
        if size is not None and size > tier.max_file_bytes:
            raise ApiError(413, "File exceeds tier size limit", file_size=size,
                           max_size_mb=tier.max_file_mb, tier=self.user.tier)
        key = f"uploads/{self.user.user_id}/{uuid.uuid4()}/{filename}"
        expires = self.config.upload_expires_s
        blobs = self.services.blobs
        if size is not None and size > self.config.multipart_threshold_mb * MB:
            part_size = self.config.part_size
            n_parts = max(1, math.ceil(size / part_size))
            upload_id = await _blob_call(blobs.start_multipart, key)
            parts = []
            for n in range(1, n_parts + 1):
                url = await _blob_call(blobs.presign_part, key, upload_id, n, part_size,
                                       expires)
                parts.append({"partNumber": n, "url": url})
            self.store.add_upload(upload_id=upload_id, file_key=key,
                                  user_id=self.user.user_id, filename=filename, size=size,
                                  multipart=True, parts=n_parts, now=self.now())
            self.write_json({"multipart": True, "upload_id": upload_id, "file_key": key,
                             "parts": parts, "part_size": part_size,
                             "max_size_mb": tier.max_file_mb, "expires_in": expires})
            return
        upload_id = uuid.uuid4().hex
        max_size = size if size is not None else tier.max_file_bytes
        url = await _blob_call(blobs.presign_put, key, upload_id, max_size, expires)
        self.store.add_upload(upload_id=upload_id, file_key=key, user_id=self.user.user_id,
                              filename=filename, size=size, multipart=False, parts=1,
                              now=self.now())
        self.write_json({"upload_url": url, "file_key": key, "expires_in": expires,
                         "max_size_mb": tier.max_file_mb, "multipart": False})


def _clean_parts(parts: object) -> list[dict]:
    if not isinstance(parts, list) or not parts:
        raise ApiError(400, "parts must be a non-empty array of {partNumber, etag}")
    out = []
    for i, p in enumerate(parts):
        n = p.get("partNumber") if isinstance(p, dict) else None
        etag = p.get("etag", p.get("ETag")) if isinstance(p, dict) else None
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10000 \
                or not isinstance(etag, str) or not etag:
            raise ApiError(400, "Each part needs an integer partNumber (1-10000) and a string"
                           " etag", index=i)
        out.append({"partNumber": n, "etag": etag})
    return out


class CompleteUploadHandler(BaseHandler):
    async def post(self) -> None:
        body = self.json_body()
        row = _pending_upload(self.services, self.user.user_id, body)
        parts = _clean_parts(body.get("parts"))
        if not row["multipart"]:
            raise ApiError(400, "Not a multipart upload", upload_id=row["upload_id"])
        await _blob_call(self.services.blobs.complete_multipart, row["file_key"],
                         row["upload_id"], parts, self.config.min_part_size)
        self.store.finish_upload(row["upload_id"], "complete", self.now())
        self.write_json({"message": "Upload complete", "file_key": row["file_key"]})


class AbortUploadHandler(BaseHandler):
    async def post(self) -> None:
        body = self.json_body()
        row = _pending_upload(self.services, self.user.user_id, body)
        await _blob_call(_abort, self.services, row)
        self.store.finish_upload(row["upload_id"], "aborted", self.now())
        self.write_json({"message": "Upload aborted"})


def _abort(services: Services, row: dict) -> None:
    blobs = services.blobs
    try:
        if row["multipart"]:
            blobs.abort_multipart(row["file_key"], row["upload_id"])
        else:
            blobs.delete(row["file_key"])
    except BlobError as exc:
        if exc.code != "NoSuchUpload":
            raise


def sweep_stale_uploads(services: Services, now: float | None = None) -> int:
    """Abort pending uploads older than ``config.stale_upload_s`` and remove orphaned
    part/temp files; returns how many uploads were aborted. Blocking: run off the loop."""
    now = services.config.now() if now is None else now
    cutoff = now - services.config.stale_upload_s
    count = 0
    for row in services.store.stale_uploads(cutoff):
        try:
            _abort(services, row)
        except (BlobError, OSError) as exc:
            log.warning("stale upload %s: %s", row["upload_id"], exc)
            continue
        if services.store.finish_upload(row["upload_id"], "aborted", now):
            count += 1
    sweep_orphans = getattr(services.blobs, "sweep_orphans", None)
    if sweep_orphans is not None:
        sweep_orphans(cutoff)
    return count


HANDLERS = [
    (r"/upload-url", UploadUrlHandler),
    (r"/complete-upload", CompleteUploadHandler),
    (r"/abort-upload", AbortUploadHandler),
]
