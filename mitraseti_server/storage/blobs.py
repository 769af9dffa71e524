"""Blob storage for uploads and job outputs: the interface every store implements.

Keys are made by the server: ``uploads/{user_id}/{uuid}/{filename}`` and
``jobs/{user_id}/{job_id}/{file}``; ``validate_key`` guards every key a client sends.
``LocalBlobStore`` (``storage.local``) and ``S3BlobStore`` (``storage.s3``) implement
``BlobStore``; ``storage.registry`` picks one by ``config.storage``.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from mitraseti.atomic import move_into_place, temp_file_beside
from mitraseti_server.errors import BlobError

CHUNK = 1024 * 1024               # bytes per read when streaming a file
MAX_KEY_BYTES = 1024              # S3's limit on an object key


def validate_key(key: object, user_id: str | None = None,
                 roots: Iterable[str] = ("uploads", "jobs")) -> str:
    """Return ``key`` if it is a safe relative object key inside ``{root}/{user_id}/``;
    BlobError InvalidKey (400) for malformed keys (``..``, absolute, NUL, backslash, empty
    parts), AccessDenied (403) for another user's prefix. Never touches the file system."""
    if not isinstance(key, str) or not key:
        raise BlobError("InvalidKey", "file_key must be a non-empty string")
    if ("\x00" in key or "\\" in key or key.startswith("/")
            or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES):
        raise BlobError("InvalidKey", "file_key is not a valid object key")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts) or len(parts) < 3:
        raise BlobError("InvalidKey", "file_key is not a valid object key")
    if parts[0] not in tuple(roots):
        raise BlobError("InvalidKey", f"file_key must start with one of {list(roots)}")
    if user_id is not None and parts[1] != user_id:
        raise BlobError("AccessDenied", "file_key belongs to another user")
    return key


def etag_matches(given: str, actual: str) -> bool:
    """Compare ETags ignoring surrounding quotes (S3 accepts both forms)."""
    return hmac.compare_digest(str(given).strip().strip('"'), str(actual).strip().strip('"'))


def check_part_order(parts: list[dict]) -> None:
    """BlobError InvalidPartOrder unless partNumbers ascend strictly (S3's rule)."""
    numbers = [p["partNumber"] for p in parts]
    if numbers != sorted(set(numbers)):
        raise BlobError("InvalidPartOrder", "parts must be listed in ascending partNumber order")


class BlobStore:
    """Interface shared by the local and S3 stores. The plain methods block (executor
    threads, Dask workers, admin commands, sweeps); the ``a``-prefixed coroutines are what
    the API awaits on its IOLoop (here they call the plain ones: override them when those
    would block, as S3's network round trips do)."""

    kind = "abstract"

    @classmethod
    def from_config(cls, config) -> "BlobStore": raise NotImplementedError
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

    def read_bytes(self, key: str) -> bytes:
        """The whole object (small ones)."""
        with self.open(key) as fh:
            return fh.read()

    @contextlib.contextmanager
    def open_local(self, key: str) -> Iterator[Path]:
        """The object as a local file for the duration of the ``with`` block (a store
        that copies objects keeps the copy while the block runs); BlobError NoSuchKey."""
        path = self.local_path(key)
        if not path.is_file():
            raise BlobError("NoSuchKey", "object not found", file_key=key)
        yield path

    def sweep_orphans(self, cutoff: float) -> int:
        """Remove leftovers of interrupted uploads older than ``cutoff`` (unix s)."""
        return 0

    def close(self) -> None:
        """Release connections (the S3 client of the blocking methods)."""

    # ---- coroutines for the API's IOLoop ----------------------------------------------
    async def apresign_put(self, key: str, upload_id: str, max_size: int,
                           expires_in: int = 3600) -> str:
        return self.presign_put(key, upload_id, max_size, expires_in)

    async def astart_multipart(self, key: str) -> str:
        return self.start_multipart(key)

    async def apresign_part(self, key: str, upload_id: str, part_number: int, max_size: int,
                            expires_in: int = 3600) -> str:
        return self.presign_part(key, upload_id, part_number, max_size, expires_in)

    async def acomplete_multipart(self, key: str, upload_id: str, parts: list[dict],
                                  min_part_size: int) -> None:
        self.complete_multipart(key, upload_id, parts, min_part_size)

    async def aabort_multipart(self, key: str, upload_id: str) -> None:
        self.abort_multipart(key, upload_id)

    async def asize(self, key: str) -> int:
        """Bytes of the object; BlobError NoSuchKey when it does not exist."""
        return self.size(key)

    async def aexists(self, key: str) -> bool:
        try:
            await self.asize(key)
            return True
        except BlobError as exc:
            if exc.code != "NoSuchKey":
                raise
            return False

    async def adelete(self, key: str) -> None:
        self.delete(key)

    async def asigned_url(self, key: str, method: str = "GET", expires_in: int = 3600,
                          **extra) -> str:
        return self.signed_url(key, method, expires_in, **extra)

    async def aread_bytes(self, key: str) -> bytes:
        """The whole object (small ones: inline CSV downloads)."""
        return self.read_bytes(key)

    async def aclose(self) -> None:
        """Release what the coroutines opened on the running loop."""


class PartWriter:
    """Streams a body to ``dest`` via a temp file, computing MD5 and enforcing ``max_size``
    (bytes). ``commit()`` renames atomically and returns the quoted ETag; ``discard()``
    removes the temp file (``mitraseti.atomic``'s temp name fits however long the name)."""

    def __init__(self, dest: Path, max_size: int):
        self.dest, self.max_size = dest, int(max_size)
        fd, self.tmp = temp_file_beside(dest)
        self.fh = os.fdopen(fd, "wb")
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
        move_into_place(self.tmp, self.dest)
        return f'"{self.md5.hexdigest()}"'

    def discard(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        self.tmp.unlink(missing_ok=True)
