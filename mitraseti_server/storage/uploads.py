"""Uploads of observations: plan a signed upload, complete or abort it, sweep stale ones.

Single uploads (declared size <= ``multipart_threshold_mb``, or no size) get one signed PUT
URL; larger ones a multipart upload with one signed URL per ``part_size`` part, finished
with the parts' ETags (checked like S3) or cancelled. The API awaits the coroutines on its
IOLoop (the blob store's coroutines; database calls in a thread); ``owned_size`` and the
stale sweep block. Bodies arrive already validated against the OpenAPI schemas; the rules
a schema cannot say are checked here.
"""
from __future__ import annotations

import asyncio
import logging
import math
import uuid

from mitraseti.errors import ParameterError
from mitraseti_server.errors import BlobError, PayloadTooLarge
from mitraseti_server.storage.blobs import BlobStore, validate_key
from mitraseti_server.storage.database import Store, User

log = logging.getLogger("mitraseti_server.uploads")
EXTENSIONS = (".fil", ".h5")
MAX_FILENAME_BYTES = 255          # one path component on every common file system
MB = 1024 * 1024


def clean_filename(name: str) -> str:
    """A bare file name ending in .fil/.h5 of at most MAX_FILENAME_BYTES UTF-8 bytes;
    ParameterError naming ``filename`` otherwise."""
    name = name.strip()
    if not name:
        raise ParameterError("Missing filename", parameter="filename")
    if ("/" in name or "\\" in name or name in (".", "..")
            or any(ord(c) < 32 for c in name)):
        raise ParameterError("Invalid filename: expected a bare file name",
                             parameter="filename", expected="a bare file name")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FILENAME_BYTES:
        raise ParameterError(f"Invalid filename: longer than {MAX_FILENAME_BYTES} bytes",
                             parameter="filename",
                             expected=f"at most {MAX_FILENAME_BYTES} bytes (UTF-8)")
    if not name.lower().endswith(EXTENSIONS):
        raise ParameterError("Unsupported file type: filename must end in .fil or .h5",
                             parameter="filename", expected="a name ending in .fil or .h5")
    return name


class UploadService:
    """Upload bookkeeping (``uploads`` rows) around a blob store. The API awaits the
    coroutines (blob-store calls on its IOLoop, database calls in a thread); the stale
    sweep and ``owned_size`` are blocking."""

    def __init__(self, config, store: Store, blobs: BlobStore):
        self.config, self.store, self.blobs = config, store, blobs

    async def plan(self, user: User, filename: str, file_size: int | None) -> dict:
        """The POST /upload-url answer: one signed PUT, or a multipart plan."""
        filename = clean_filename(filename)
        tier = self.config.tier(user.tier)
        if file_size is not None and file_size > tier.max_file_bytes:
            raise PayloadTooLarge("File exceeds tier size limit", file_size=file_size,
                                  max_size_mb=tier.max_file_mb, tier=user.tier)
        token = uuid.uuid4()
        key = f"uploads/{user.user_id}/{token}/{filename}"
        expires = self.config.upload_expires_s
        now = self.config.now()
        if file_size is not None and file_size > self.config.multipart_threshold_mb * MB:
            part_size = self.config.part_size
            n_parts = max(1, math.ceil(file_size / part_size))
            upload_id = await self.blobs.astart_multipart(key)
            parts = [{"partNumber": n,
                      "url": await self.blobs.apresign_part(key, upload_id, n, part_size,
                                                            expires)}
                     for n in range(1, n_parts + 1)]
            await asyncio.to_thread(
                self.store.add_upload, upload_id=upload_id, file_key=key,
                user_id=user.user_id, filename=filename, size=file_size, multipart=True,
                parts=n_parts, now=now)
            return {"multipart": True, "upload_id": upload_id, "file_key": key,
                    "parts": parts, "part_size": part_size,
                    "max_size_mb": tier.max_file_mb, "expires_in": expires}
        upload_id = token.hex            # found again from the key (single_put_row)
        max_size = file_size if file_size is not None else tier.max_file_bytes
        url = await self.blobs.apresign_put(key, upload_id, max_size, expires)
        await asyncio.to_thread(
            self.store.add_upload, upload_id=upload_id, file_key=key, user_id=user.user_id,
            filename=filename, size=file_size, multipart=False, parts=1, now=now)
        return {"upload_url": url, "file_key": key, "expires_in": expires,
                "max_size_mb": tier.max_file_mb, "multipart": False}

    def pending(self, user: User, file_key: str, upload_id: str) -> dict:
        """The caller's pending upload row; BlobError NoSuchUpload / AccessDenied."""
        validate_key(file_key, user.user_id, roots=("uploads",))
        row = self.store.get_upload(upload_id)
        if row is None or row["file_key"] != file_key or row["state"] != "pending":
            raise BlobError("NoSuchUpload", "upload not found or already finished",
                            upload_id=upload_id)
        if row["user_id"] != user.user_id:
            raise BlobError("AccessDenied", "upload belongs to another user")
        return row

    async def complete(self, user: User, file_key: str, upload_id: str,
                       parts: list[dict]) -> dict:
        """Assemble a multipart upload from its parts (``partNumber``, ``etag``)."""
        row = await asyncio.to_thread(self.pending, user, file_key, upload_id)
        if not row["multipart"]:
            raise ParameterError("Not a multipart upload", parameter="upload_id")
        await self.blobs.acomplete_multipart(row["file_key"], row["upload_id"], parts,
                                             self.config.min_part_size)
        await asyncio.to_thread(self.store.finish_upload, row["upload_id"], "complete",
                                self.config.now())
        return {"message": "Upload complete", "file_key": row["file_key"]}

    async def abort(self, user: User, file_key: str, upload_id: str) -> dict:
        row = await asyncio.to_thread(self.pending, user, file_key, upload_id)
        try:
            if row["multipart"]:
                await self.blobs.aabort_multipart(row["file_key"], row["upload_id"])
            else:
                await self.blobs.adelete(row["file_key"])
        except BlobError as exc:
            if exc.code != "NoSuchUpload":
                raise
        await asyncio.to_thread(self.store.finish_upload, row["upload_id"], "aborted",
                                self.config.now())
        return {"message": "Upload aborted"}

    # ---- the files a job may read -----------------------------------------------------
    def _is_own_key(self, user: User, file_key: str) -> bool:
        """True for a key under the caller's uploads/, False for another user's;
        ParameterError for a malformed key."""
        try:
            validate_key(file_key, user.user_id, roots=("uploads",))
            return True
        except BlobError as exc:
            if exc.code == "AccessDenied":     # another user's key: as unknown as a missing one
                return False
            raise ParameterError("Invalid file_key", parameter="file_key") from None

    def _upload_state(self, user: User, file_key: str) -> tuple[bool, dict | None]:
        """(finished?, the pending single-PUT row) of the caller's ``file_key``. A
        presigned S3 PUT goes straight to S3, so its row stays pending until the object
        is seen; its upload id is the key's UUID."""
        if self.store.has_complete_upload(file_key, user.user_id):
            return True, None
        try:
            row = self.store.get_upload(uuid.UUID(file_key.split("/")[2]).hex)
        except ValueError:
            return False, None
        if row is None or row["file_key"] != file_key or row["user_id"] != user.user_id:
            return False, None
        if row["state"] == "complete":    # seen by a concurrent request since the check
            return True, None
        if row["state"] != "pending" or row["multipart"]:
            return False, None
        return False, row

    def owned_size(self, user: User, file_key: str) -> int | None:
        """Size (bytes) of the caller's finished upload ``file_key``; None when it is
        unknown, unfinished or another user's. ParameterError for a malformed key."""
        if not self._is_own_key(user, file_key):
            return None
        finished, row = self._upload_state(user, file_key)
        if not finished and row is None:
            return None
        try:
            size = int(self.blobs.size(file_key))
        except BlobError as exc:
            if exc.code != "NoSuchKey":
                raise
            return None
        if row is not None:
            self.store.finish_upload(row["upload_id"], "complete", self.config.now())
        return size

    async def owned_sizes(self, user: User, file_keys: list[str]) -> dict[str, int | None]:
        """``owned_size`` of every well-formed key, awaited on the running loop (a
        malformed key is left out: ``owned_size`` names it when the request is checked)."""
        async def one(key: str) -> int | None:
            if not self._is_own_key(user, key):
                return None
            finished, row = await asyncio.to_thread(self._upload_state, user, key)
            if not finished and row is None:
                return None
            try:
                size = await self.blobs.asize(key)
            except BlobError as exc:
                if exc.code != "NoSuchKey":
                    raise
                return None
            if row is not None:
                await asyncio.to_thread(self.store.finish_upload, row["upload_id"],
                                        "complete", self.config.now())
            return size

        keys = []
        for key in dict.fromkeys(file_keys):
            try:
                self._is_own_key(user, key)
                keys.append(key)
            except ParameterError:
                continue
        sizes = await asyncio.gather(*(one(key) for key in keys))
        return dict(zip(keys, sizes))

    def _abort(self, row: dict) -> None:
        try:
            if row["multipart"]:
                self.blobs.abort_multipart(row["file_key"], row["upload_id"])
            else:
                self.blobs.delete(row["file_key"])
        except BlobError as exc:
            if exc.code != "NoSuchUpload":
                raise

    def sweep_stale(self, now: float | None = None) -> int:
        """Abort pending uploads older than ``config.stale_upload_s`` and remove orphaned
        part and temp files; returns how many uploads were aborted. A single PUT whose
        object exists (a presigned S3 PUT, never reported to the service) is complete."""
        now = self.config.now() if now is None else now
        cutoff = now - self.config.stale_upload_s
        count = 0
        for row in self.store.stale_uploads(cutoff):
            try:
                if not row["multipart"] and self.blobs.exists(row["file_key"]):
                    self.store.finish_upload(row["upload_id"], "complete", now)
                    continue
                self._abort(row)
            except (BlobError, OSError) as exc:
                log.warning("stale upload %s: %s", row["upload_id"], exc)
                continue
            if self.store.finish_upload(row["upload_id"], "aborted", now):
                count += 1
        self.blobs.sweep_orphans(cutoff)
        return count

