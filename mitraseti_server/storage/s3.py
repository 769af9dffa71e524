"""S3 blob store (aiobotocore): the ``BlobStore`` interface, URLs presigned by S3.

aiobotocore is asynchronous; this class runs one client on a private event loop in a
daemon thread and exposes blocking methods (handlers call them off the IOLoop). Objects
the executor needs as files are downloaded once to ``cache_dir`` by ``local_path``.
Limitation: a presigned single PUT cannot cap the body size (S3 would need a POST
policy); the declared size is enforced later by /analyze's tier check.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO

from aiobotocore.session import get_session
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from mitraseti_server.errors import BlobError
from mitraseti.atomic import move_into_place, temp_file_beside
from mitraseti_server.storage.blobs import CHUNK, BlobStore, check_part_order, validate_key

PUT_PART = 64 * 1024 * 1024       # part size for server-side uploads of large files
# S3 error codes answered to the client (BlobError maps them to HTTP statuses)
S3_CODES = {"InvalidPart": "InvalidPart", "InvalidPartOrder": "InvalidPartOrder",
            "EntityTooSmall": "EntityTooSmall", "NoSuchUpload": "NoSuchUpload",
            "NoSuchKey": "NoSuchKey", "404": "NoSuchKey", "NotFound": "NoSuchKey"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3BlobStore(BlobStore):
    """Objects in ``bucket`` (keys as given); ``cache_dir`` holds local copies."""

    kind = "s3"

    def __init__(self, bucket: str, cache_dir: str | Path, endpoint_url: str | None = None,
                 region: str = "us-east-1", access_key_id: str | None = None,
                 secret_access_key: str | None = None, create_bucket: bool = True):
        self.bucket, self.cache_dir = bucket, Path(cache_dir)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="s3-blobs")
        self._thread.start()
        kwargs = {"region_name": region, "config": BotoConfig(signature_version="s3v4",
                                                              s3={"addressing_style": "path"})}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        if access_key_id:
            kwargs["aws_access_key_id"] = access_key_id
            kwargs["aws_secret_access_key"] = secret_access_key
        self._ctx = get_session().create_client("s3", **kwargs)
        self._client = self._run(self._ctx.__aenter__())
        if create_bucket:
            self._ensure_bucket()

    @classmethod
    def from_config(cls, config) -> "S3BlobStore":
        return cls(config.s3_bucket, config.data_dir / "s3cache",
                   endpoint_url=config.s3_endpoint_url or None, region=config.s3_region,
                   access_key_id=config.s3_access_key_id or None,
                   secret_access_key=config.s3_secret_access_key or None)

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _call(self, op: str, **params):
        """One S3 API call; ClientErrors with known codes become BlobError."""
        try:
            return self._run(getattr(self._client, op)(Bucket=self.bucket, **params))
        except ClientError as exc:
            code = _code(exc)
            if code in S3_CODES:
                raise BlobError(S3_CODES[code],
                                exc.response["Error"].get("Message", "")) from None
            raise

    def _ensure_bucket(self) -> None:
        try:
            self._run(self._client.head_bucket(Bucket=self.bucket))
        except ClientError:
            self._run(self._client.create_bucket(Bucket=self.bucket))

    def close(self) -> None:
        try:
            self._run(self._ctx.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)

    # ---- objects --------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes) -> None:
        self._call("put_object", Key=validate_key(key), Body=bytes(data))

    def put_file(self, key: str, src_path: str | Path) -> None:
        validate_key(key)
        size = os.path.getsize(src_path)
        if size <= PUT_PART:
            with open(src_path, "rb") as fh:
                self._call("put_object", Key=key, Body=fh.read())
            return
        upload_id = self.start_multipart(key)
        parts = []
        try:
            with open(src_path, "rb") as fh:
                n = 1
                while chunk := fh.read(PUT_PART):
                    resp = self._call("upload_part", Key=key, UploadId=upload_id,
                                      PartNumber=n, Body=chunk)
                    parts.append({"partNumber": n, "etag": resp["ETag"]})
                    n += 1
            self.complete_multipart(key, upload_id, parts, 0)
        except BaseException:
            self.abort_multipart(key, upload_id)
            raise

    def _download(self, key: str, dest: Path) -> None:
        async def fetch():
            resp = await self._client.get_object(Bucket=self.bucket, Key=key)
            with open(tmp, "wb") as fh:
                async with resp["Body"] as stream:
                    while chunk := await stream.read(CHUNK):
                        fh.write(chunk)
        fd, tmp = temp_file_beside(dest)
        os.close(fd)
        try:
            self._run(fetch())
            move_into_place(tmp, dest)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise BlobError("NoSuchKey", "object not found", file_key=key) from None
            raise
        finally:
            tmp.unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        """A local copy of the object (downloaded once, refreshed if the size changed)."""
        validate_key(key)
        dest = self.cache_dir.joinpath(*key.split("/"))
        if not dest.is_file() or dest.stat().st_size != self.size(key):
            self._download(key, dest)
        return dest

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        tmpdir = Path(tempfile.mkdtemp(prefix="s3get-"))
        try:
            self._download(key, tmpdir / "obj")
            return open(tmpdir / "obj", "rb")      # unlinked below; the handle stays valid
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
            return True
        except BlobError:
            return False

    def size(self, key: str) -> int:
        return int(self._call("head_object", Key=validate_key(key))["ContentLength"])

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=validate_key(key))
        shutil.rmtree(self.cache_dir.joinpath(*key.split("/")), ignore_errors=True)

    def delete_prefix(self, prefix: str) -> int:
        prefix = prefix.rstrip("/")
        validate_key(prefix + "/x")
        count, token = 0, None
        while True:
            params = {"Prefix": prefix + "/"}
            if token:
                params["ContinuationToken"] = token
            page = self._call("list_objects_v2", **params)
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self._call("delete_objects", Delete={"Objects": keys, "Quiet": True})
                count += len(keys)
            token = page.get("NextContinuationToken")
            if not token:
                break
        shutil.rmtree(self.cache_dir.joinpath(*prefix.split("/")), ignore_errors=True)
        return count

    # ---- signing and uploads ----------------------------------------------------------
    def _presign(self, op: str, expires_in: int, **params) -> str:
        return self._run(self._client.generate_presigned_url(
            op, Params={"Bucket": self.bucket, **params}, ExpiresIn=int(expires_in)))

    def signed_url(self, key: str, method: str = "GET", expires_in: int = 3600,
                   **extra) -> str:
        validate_key(key)
        if method.upper() == "PUT":
            return self._presign("put_object", expires_in, Key=key)
        params = {"Key": key}
        if extra.get("filename"):
            params["ResponseContentDisposition"] = f'attachment; filename="{extra["filename"]}"'
        return self._presign("get_object", expires_in, **params)

    def presign_put(self, key: str, upload_id: str, max_size: int,
                    expires_in: int = 3600) -> str:
        return self.signed_url(key, "PUT", expires_in)

    def start_multipart(self, key: str) -> str:
        return self._call("create_multipart_upload", Key=validate_key(key))["UploadId"]

    def presign_part(self, key: str, upload_id: str, part_number: int, max_size: int,
                     expires_in: int = 3600) -> str:
        return self._presign("upload_part", expires_in, Key=validate_key(key),
                             UploadId=upload_id, PartNumber=int(part_number))

    def complete_multipart(self, key: str, upload_id: str, parts: list[dict],
                           min_part_size: int) -> None:
        check_part_order(parts)
        etags = [{"PartNumber": p["partNumber"],
                  "ETag": '"' + str(p["etag"]).strip().strip('"') + '"'} for p in parts]
        self._call("complete_multipart_upload", Key=validate_key(key), UploadId=upload_id,
                   MultipartUpload={"Parts": etags})

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._call("abort_multipart_upload", Key=validate_key(key), UploadId=upload_id)
