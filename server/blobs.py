"""Blob storage for uploads and job outputs, behind one interface.

``LocalBlobStore`` keeps objects as files under ``root/objects/<key>`` and hands out
HMAC-signed, expiring URLs (``{base_url}{prefix}/blobs/<key>?...``) that the app itself
serves (``handlers_blobs``). ``S3BlobStore`` (``blobs_s3``) has the same methods, with URLs
presigned by S3. Keys are made by the server: ``uploads/{user_id}/{uuid}/{filename}`` and
``jobs/{user_id}/{job_id}/{file}``; ``validate_key`` guards every key a client sends.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Iterable
from urllib.parse import quote, urlencode

CHUNK = 1024 * 1024
SIG_PARAMS = ("X-Method", "X-Expires", "X-Signature")


class BlobError(Exception):
    """A storage request the client got wrong. ``code`` is S3-style (InvalidPart,
    InvalidPartOrder, EntityTooSmall, NoSuchUpload, NoSuchKey, InvalidKey, AccessDenied);
    ``status`` the HTTP status to answer with; ``context`` extra JSON fields."""

    def __init__(self, status: int, code: str, message: str = "", **context):
        super().__init__(message or code)
        self.status, self.code, self.message, self.context = status, code, message, context


def validate_key(key: object, user_id: str | None = None,
                 roots: Iterable[str] = ("uploads", "jobs")) -> str:
    """Return ``key`` if it is a safe relative object key inside ``{root}/{user_id}/``;
    BlobError 400 for malformed keys (``..``, absolute, NUL, backslash, empty parts),
    403 for another user's prefix. Never touches the file system."""
    if not isinstance(key, str) or not key:
        raise BlobError(400, "InvalidKey", "file_key must be a non-empty string")
    if "\x00" in key or "\\" in key or key.startswith("/") or len(key) > 1024:
        raise BlobError(400, "InvalidKey", "file_key is not a valid object key", file_key=key)
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts) or len(parts) < 3:
        raise BlobError(400, "InvalidKey", "file_key is not a valid object key", file_key=key)
    if parts[0] not in tuple(roots):
        raise BlobError(400, "InvalidKey", f"file_key must start with one of {list(roots)}",
                        file_key=key)
    if user_id is not None and parts[1] != user_id:
        raise BlobError(403, "AccessDenied", "file_key belongs to another user")
    return key


def etag_matches(given: str, actual: str) -> bool:
    """Compare ETags ignoring surrounding quotes (S3 accepts both forms)."""
    return hmac.compare_digest(str(given).strip().strip('"'), str(actual).strip().strip('"'))


class BlobStore:
    """Interface shared by the local and S3 stores (all methods are blocking)."""

    kind = "abstract"

    def put_file(self, key: str, src_path: str | Path) -> None: raise NotImplementedError
    def put_bytes(self, key: str, data: bytes) -> None: raise NotImplementedError
    def open(self, key: str) -> BinaryIO: raise NotImplementedError
    def local_path(self, key: str) -> Path: raise NotImplementedError
    def exists(self, key: str) -> bool: raise NotImplementedError
    def size(self, key: str) -> int: raise NotImplementedError
    def delete(self, key: str) -> None: raise NotImplementedError
    def delete_prefix(self, prefix: str) -> int: raise NotImplementedError
    def signed_url(self, key: str, method: str = "GET", expires_in: int = 3600,
                   **extra) -> str: raise NotImplementedError
    # uploads
    def presign_put(self, key: str, upload_id: str, max_size: int,
                    expires_in: int = 3600) -> str: raise NotImplementedError
    def start_multipart(self, key: str) -> str: raise NotImplementedError
    def presign_part(self, key: str, upload_id: str, part_number: int, max_size: int,
                     expires_in: int = 3600) -> str: raise NotImplementedError
    def complete_multipart(self, key: str, upload_id: str, parts: list[dict],
                           min_part_size: int) -> None: raise NotImplementedError
    def abort_multipart(self, key: str, upload_id: str) -> None: raise NotImplementedError
    def close(self) -> None: pass


class PartWriter:
    """Streams a body to ``dest`` via a temp file, computing MD5 and enforcing ``max_size``.
    ``commit()`` renames atomically and returns the quoted ETag; ``discard()`` removes it."""

    def __init__(self, dest: Path, max_size: int):
        self.dest, self.max_size = dest, int(max_size)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        self.fh = open(self.tmp, "wb")
        self.md5 = hashlib.md5()
        self.size = 0
        self.too_large = False

    def write(self, chunk: bytes) -> None:
        if self.too_large:
            return
        self.size += len(chunk)
        if self.size > self.max_size:
            self.too_large = True
            self.discard()
            return
        self.fh.write(chunk)
        self.md5.update(chunk)

    def commit(self) -> str:
        self.fh.close()
        os.replace(self.tmp, self.dest)
        return f'"{self.md5.hexdigest()}"'

    def discard(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


class LocalBlobStore(BlobStore):
    """Objects as files under ``root``; URLs signed with ``secret`` and served by the app
    at ``{base_url}{prefix}/blobs/<key>``."""

    kind = "local"

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
            raise BlobError(404, "NoSuchKey", "object not found", file_key=key) from None

    def exists(self, key: str) -> bool:
        return self.local_path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.local_path(key).stat().st_size
        except FileNotFoundError:
            raise BlobError(404, "NoSuchKey", "object not found", file_key=key) from None

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
            raise BlobError(403, "AccessDenied", "URL is not signed") from None
        extra = {k: v for k, v in query.items() if k not in SIG_PARAMS}
        want = self._signature(key, signed_method, expires, extra)
        if not hmac.compare_digest(want, given):
            raise BlobError(403, "SignatureDoesNotMatch", "URL signature is invalid")
        if signed_method.upper() != method.upper() and not (
                signed_method.upper() == "GET" and method.upper() == "HEAD"):
            raise BlobError(403, "AccessDenied", f"URL is signed for {signed_method}")
        if (time.time() if now is None else now) > expires:
            raise BlobError(403, "AccessDenied", "URL has expired", expired_at=expires)
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
            raise BlobError(400, "InvalidArgument", "upload_id is malformed")
        path = self.multipart / upload_id
        if not path.is_dir():
            raise BlobError(404, "NoSuchUpload", "upload not found or already finished",
                            upload_id=upload_id)
        return path

    def part_writer(self, upload_id: str, part_number: int, max_size: int) -> PartWriter:
        """Writer for one part; its ETag goes to a sidecar at commit (``record_part``)."""
        return PartWriter(self._upload_dir(upload_id) / f"{int(part_number):05d}", max_size)

    def record_part(self, upload_id: str, part_number: int, etag: str) -> None:
        path = self._upload_dir(upload_id) / f"{int(part_number):05d}.etag"
        tmp = path.with_suffix(".etag.tmp")
        tmp.write_text(etag)
        os.replace(tmp, path)

    def object_writer(self, key: str, max_size: int) -> PartWriter:
        return PartWriter(self.local_path(key), max_size)

    def complete_multipart(self, key: str, upload_id: str, parts: list[dict],
                           min_part_size: int) -> None:
        """Check parts like S3 (order, ETags, sizes), then concatenate to a temp file and
        rename it to the object atomically; the parts are removed."""
        updir = self._upload_dir(upload_id)
        numbers = [p["partNumber"] for p in parts]
        if numbers != sorted(set(numbers)):
            raise BlobError(400, "InvalidPartOrder",
                            "parts must be listed in ascending partNumber order")
        files = []
        for p in parts:
            data = updir / f"{p['partNumber']:05d}"
            sidecar = updir / f"{p['partNumber']:05d}.etag"
            if not data.is_file() or not sidecar.is_file() or not etag_matches(
                    p["etag"], sidecar.read_text()):
                raise BlobError(400, "InvalidPart", "a part was not uploaded or its ETag does"
                                " not match", partNumber=p["partNumber"])
            files.append(data)
        for p, data in zip(parts[:-1], files[:-1]):
            if data.stat().st_size < min_part_size:
                raise BlobError(400, "EntityTooSmall", "a part other than the last is"
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

    def sweep_orphans(self, cutoff: float) -> int:
        """Remove multipart dirs and temp files last modified before ``cutoff`` (unix s)."""
        removed = 0
        for d in self.multipart.iterdir():
            if d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
        for tmp in self.objects.rglob(".*.tmp"):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed


def make_blob_store(config) -> BlobStore:
    """The store named by ``config.storage`` ("local" or "s3")."""
    if config.storage == "s3":
        from .blobs_s3 import S3BlobStore
        return S3BlobStore.from_config(config)
    return LocalBlobStore(config.blobs_dir, config.secret_key, config.public_url,
                          config.api_prefix)
