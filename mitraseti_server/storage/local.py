"""The local blob store: objects as files, URLs signed by the service and served by it.

``LocalBlobStore`` keeps objects under ``root/objects/<key>`` and multipart uploads under
``root/multipart/<upload_id>/``; it hands out HMAC-signed, expiring URLs
(``{base_url}{prefix}/blobs/<key>?...``) that ``api.blobs`` serves.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import shutil
import time
import uuid
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from mitraseti.atomic import TMP_SUFFIX, atomic_write_text
from mitraseti_server.errors import BlobError
from mitraseti_server.storage.blobs import (CHUNK, BlobStore, PartWriter, check_part_order,
                                            etag_matches, validate_key)

SIG_PARAMS = ("X-Method", "X-Expires", "X-Signature")


class LocalBlobStore(BlobStore):
    """Objects as files under ``root``; URLs signed with ``secret`` and served by the app
    at ``{base_url}{prefix}/blobs/<key>``."""

    kind = "local"

    @classmethod
    def from_config(cls, config) -> "LocalBlobStore":
        return cls(config.blobs_dir, config.secret_key, config.public_url, config.api_prefix)

    def __init__(self, root: str | Path, secret: bytes, base_url: str, prefix: str = ""):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.multipart = self.root / "multipart"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.multipart.mkdir(parents=True, exist_ok=True)
        self.secret = bytes(secret)
        self.base_url = base_url.rstrip("/")
        self.prefix = prefix.rstrip("/")

    # ---- objects --------------------------------------------------------------------
    def local_path(self, key: str) -> Path:
        """Path of the object file (exists or not); the key is checked first."""
        validate_key(key, roots=("uploads", "jobs"))
        return self.objects.joinpath(*key.split("/"))

    def put_file(self, key: str, src_path: str | Path) -> None:
        dest = self.local_path(key)
        writer = PartWriter(dest, max_size=1 << 62)
        with open(src_path, "rb") as src:
            while chunk := src.read(CHUNK):
                writer.write(chunk)
        writer.commit()

    def put_bytes(self, key: str, data: bytes) -> None:
        writer = PartWriter(self.local_path(key), max_size=1 << 62)
        writer.write(bytes(data))
        writer.commit()

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self.local_path(key), "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise BlobError("NoSuchKey", "object not found", file_key=key) from None

    def exists(self, key: str) -> bool:
        return self.local_path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.local_path(key).stat().st_size
        except FileNotFoundError:
            raise BlobError("NoSuchKey", "object not found", file_key=key) from None

    def delete(self, key: str) -> None:
        self.local_path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (a key prefix ending at a '/' boundary)."""
        prefix = prefix.rstrip("/")
        validate_key(prefix + "/x", roots=("uploads", "jobs"))
        base = self.objects.joinpath(*prefix.split("/"))
        if not base.is_dir():
            return 0
        count = sum(1 for p in base.rglob("*") if p.is_file())
        shutil.rmtree(base, ignore_errors=True)
        return count

    # ---- signing --------------------------------------------------------------------
    def _signature(self, key: str, method: str, expires: int, extra: dict) -> str:
        canon = "\n".join([method.upper(), key, str(expires)] +
                          [f"{k}={extra[k]}" for k in sorted(extra)])
        return hmac.new(self.secret, canon.encode(), hashlib.sha256).hexdigest()

    def signed_url(self, key: str, method: str = "GET", expires_in: int = 3600,
                   **extra) -> str:
        """Absolute URL for ``method`` on ``key``, valid ``expires_in`` s; ``extra`` fields
        (e.g. ``filename``, ``upload_id``, ``part``, ``max_size``) are signed too."""
        validate_key(key)
        expires = int(time.time()) + int(expires_in)
        extra = {k: str(v) for k, v in extra.items() if v is not None}
        query = dict(extra)
        query.update({"X-Method": method.upper(), "X-Expires": str(expires),
                      "X-Signature": self._signature(key, method, expires, extra)})
        return f"{self.base_url}{self.prefix}/blobs/{quote(key)}?{urlencode(query)}"

    def verify(self, key: str, method: str, query: dict[str, str],
               now: float | None = None) -> dict[str, str]:
        """Check a signed request; return its extra fields. BlobError 403 if the signature
        is missing, tampered, for another method, or expired."""
        try:
            expires = int(query["X-Expires"])
            signed_method = query["X-Method"]
            given = query["X-Signature"]
        except (KeyError, ValueError):
            raise BlobError("AccessDenied", "URL is not signed") from None
        extra = {k: v for k, v in query.items() if k not in SIG_PARAMS}
        want = self._signature(key, signed_method, expires, extra)
        if not hmac.compare_digest(want, given):
            raise BlobError("SignatureDoesNotMatch", "URL signature is invalid")
        if signed_method.upper() != method.upper() and not (
                signed_method.upper() == "GET" and method.upper() == "HEAD"):
            raise BlobError("AccessDenied", f"URL is signed for {signed_method}")
        if (time.time() if now is None else now) > expires:
            raise BlobError("AccessDenied", "URL has expired", expired_at=expires)
        return extra

    # ---- uploads --------------------------------------------------------------------
    def presign_put(self, key: str, upload_id: str, max_size: int,
                    expires_in: int = 3600) -> str:
        return self.signed_url(key, "PUT", expires_in, upload_id=upload_id,
                               max_size=int(max_size))

    def start_multipart(self, key: str) -> str:
        upload_id = uuid.uuid4().hex
        (self.multipart / upload_id).mkdir(parents=True)
        return upload_id

    def presign_part(self, key: str, upload_id: str, part_number: int, max_size: int,
                     expires_in: int = 3600) -> str:
        return self.signed_url(key, "PUT", expires_in, upload_id=upload_id,
                               part=int(part_number), max_size=int(max_size))

    def _upload_dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise BlobError("InvalidArgument", "upload_id is malformed")
        path = self.multipart / upload_id
        if not path.is_dir():
            raise BlobError("NoSuchUpload", "upload not found or already finished",
                            upload_id=upload_id)
        return path

    def part_writer(self, upload_id: str, part_number: int, max_size: int) -> PartWriter:
        """Writer for one part; its ETag goes to a sidecar at commit (``record_part``)."""
        return PartWriter(self._upload_dir(upload_id) / f"{int(part_number):05d}", max_size)

    def record_part(self, upload_id: str, part_number: int, etag: str) -> None:
        atomic_write_text(self._upload_dir(upload_id) / f"{int(part_number):05d}.etag", etag)

    def object_writer(self, key: str, max_size: int) -> PartWriter:
        return PartWriter(self.local_path(key), max_size)

    def complete_multipart(self, key: str, upload_id: str, parts: list[dict],
                           min_part_size: int) -> None:
        """Check parts like S3 (order, ETags, sizes), then concatenate to a temp file and
        rename it to the object atomically; the parts are removed."""
        updir = self._upload_dir(upload_id)
        check_part_order(parts)
        files = []
        for p in parts:
            data = updir / f"{p['partNumber']:05d}"
            sidecar = updir / f"{p['partNumber']:05d}.etag"
            if not data.is_file() or not sidecar.is_file() or not etag_matches(
                    p["etag"], sidecar.read_text()):
                raise BlobError("InvalidPart", "a part was not uploaded or its ETag does"
                                " not match", partNumber=p["partNumber"])
            files.append(data)
        for p, data in zip(parts[:-1], files[:-1]):
            if data.stat().st_size < min_part_size:
                raise BlobError("EntityTooSmall", "a part other than the last is"
                                " smaller than the minimum", partNumber=p["partNumber"],
                                min_size=min_part_size)
        writer = PartWriter(self.local_path(key), max_size=1 << 62)
        try:
            for data in files:
                with open(data, "rb") as src:
                    while chunk := src.read(CHUNK):
                        writer.write(chunk)
            writer.commit()
        except BaseException:
            writer.discard()
            raise
        shutil.rmtree(updir, ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        shutil.rmtree(self._upload_dir(upload_id), ignore_errors=True)

    # ---- coroutines: file work that may take long runs in a thread --------------------
    async def acomplete_multipart(self, key: str, upload_id: str, parts: list[dict],
                                  min_part_size: int) -> None:
        await asyncio.to_thread(self.complete_multipart, key, upload_id, parts,
                                min_part_size)

    async def aabort_multipart(self, key: str, upload_id: str) -> None:
        await asyncio.to_thread(self.abort_multipart, key, upload_id)

    async def aread_bytes(self, key: str) -> bytes:
        return await asyncio.to_thread(self.read_bytes, key)

    def sweep_orphans(self, cutoff: float) -> int:
        """Remove multipart dirs and temp files last modified before ``cutoff`` (unix s)."""
        removed = 0
        for d in self.multipart.iterdir():
            if d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
        for tmp in self.objects.rglob(f".*{TMP_SUFFIX}"):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed
