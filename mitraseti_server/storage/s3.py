"""S3 blob store (aiobotocore): the ``BlobStore`` interface, URLs presigned by S3.

Two kinds of callers, two kinds of clients:

- the API awaits the ``a``-prefixed coroutines on its IOLoop; each is one request on an
  aiobotocore client created on that running loop (one per loop, closed by ``aclose``);
- blocking callers (executor threads, Dask workers, admin commands, sweeps) call the plain
  methods, which run on a client of a private event loop in a daemon thread.

Every object key lives under ``prefix`` when one is given (``s3://BUCKET/PREFIX``); the
keys the service hands out stay prefix-free. Inputs that jobs read as files are copied
into a bounded ``InputCache`` (``open_local`` pins the copy while a job runs).
Credentials, endpoint and region come from the arguments, else from botocore's own chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles, ``AWS_ENDPOINT_URL_S3``,
``AWS_ENDPOINT_URL``). Limitation: a presigned single PUT cannot cap the body size (S3
would need a POST policy); the declared size is enforced later by /analyze's tier check.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Iterator

from aiobotocore.session import get_session
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from mitraseti_server.errors import BlobError
from mitraseti_server.storage.blobs import CHUNK, BlobStore, check_part_order, validate_key
from mitraseti_server.storage.input_cache import GIB, InputCache

PUT_PART = 64 * 1024 * 1024       # part size for server-side uploads of large files
DEFAULT_REGION = "us-east-1"
# S3 error codes answered to the client (BlobError maps them to HTTP statuses)
S3_CODES = {"InvalidPart": "InvalidPart", "InvalidPartOrder": "InvalidPartOrder",
            "EntityTooSmall": "EntityTooSmall", "NoSuchUpload": "NoSuchUpload",
            "NoSuchKey": "NoSuchKey", "404": "NoSuchKey", "NotFound": "NoSuchKey"}


def _translated(exc: ClientError) -> Exception:
    """A BlobError for S3 codes the client should see; ``exc`` itself otherwise."""
    error = exc.response.get("Error", {})
    code = S3_CODES.get(str(error.get("Code", "")))
    return BlobError(code, error.get("Message", "") or code) if code else exc


def client_settings(endpoint_url: str | None, region: str | None,
                    access_key_id: str | None, secret_access_key: str | None) -> dict:
    """Keyword arguments of ``create_client('s3', ...)``: only what was given, so botocore
    finds the rest in its own chain (environment, profiles)."""
    region = (region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or DEFAULT_REGION)
    kwargs = {"region_name": region,
              "config": BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"})}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if access_key_id and secret_access_key:
        kwargs["aws_access_key_id"] = access_key_id
        kwargs["aws_secret_access_key"] = secret_access_key
    return kwargs


class S3BlobStore(BlobStore):
    """Objects in ``bucket`` under ``prefix``; ``cache`` holds local copies of inputs."""

    kind = "s3"

    def __init__(self, bucket: str, cache: InputCache, prefix: str = "",
                 endpoint_url: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 create_bucket: bool = True):
        self.bucket, self.cache = bucket, cache
        self.prefix = prefix.strip("/")
        self._settings = client_settings(endpoint_url, region, access_key_id,
                                         secret_access_key)
        self._aclients: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}
        self.sync_calls = 0               # requests made by the blocking methods
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="s3-blobs")
        self._thread.start()
        self._ctx = get_session().create_client("s3", **self._settings)
        self._client = self._run(self._ctx.__aenter__())
        if create_bucket:
            self._ensure_bucket()

    @classmethod
    def from_config(cls, config) -> "S3BlobStore":
        target = config.storage_target
        cache = InputCache(config.cache_dir, int(config.input_cache_gb * GIB))
        return cls(target.bucket, cache, prefix=target.prefix,
                   endpoint_url=config.s3_endpoint_url or None,
                   region=config.s3_region or None,
                   access_key_id=config.s3_access_key_id or None,
                   secret_access_key=config.s3_secret_access_key or None)

    def object_key(self, key: str) -> str:
        """The S3 key of the service's ``key``: checked, under the prefix."""
        validate_key(key)
        return self._under_prefix(key)

    def _under_prefix(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    # ---- the private loop (blocking callers) -------------------------------------------
    def _run(self, coro):
        self.sync_calls += 1
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _call(self, op: str, **params):
        """One S3 API call from a blocking caller; known error codes become BlobError."""
        try:
            return self._run(getattr(self._client, op)(Bucket=self.bucket, **params))
        except ClientError as exc:
            raise _translated(exc) from None

    def _ensure_bucket(self) -> None:
        try:
            self._run(self._client.head_bucket(Bucket=self.bucket))
        except ClientError:
            region = self._settings["region_name"]
            where = ({} if region == DEFAULT_REGION else
                     {"CreateBucketConfiguration": {"LocationConstraint": region}})
            self._run(self._client.create_bucket(Bucket=self.bucket, **where))

    def close(self) -> None:
        try:
            self._run(self._ctx.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)

    # ---- the running loop's client (the API) --------------------------------------------
    async def _aclient(self):
        loop = asyncio.get_running_loop()
        task = self._aclients.get(loop)
        if task is None or (task.done() and task.exception() is not None):
            task = self._aclients[loop] = loop.create_task(self._open_client())
        return (await asyncio.shield(task))[1]      # a failed start is retried next time

    async def _open_client(self):
        ctx = get_session().create_client("s3", **self._settings)
        return ctx, await ctx.__aenter__()

    def client_loops(self) -> list[asyncio.AbstractEventLoop]:
        """The event loops that hold an async client of this store."""
        return list(self._aclients)

    async def _acall(self, op: str, **params):
        client = await self._aclient()
        try:
            return await getattr(client, op)(Bucket=self.bucket, **params)
        except ClientError as exc:
            raise _translated(exc) from None

    async def aclose(self) -> None:
        task = self._aclients.pop(asyncio.get_running_loop(), None)
        if task is not None:
            ctx, _ = await task
            await ctx.__aexit__(None, None, None)

    # ---- objects --------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes) -> None:
        self._call("put_object", Key=self.object_key(key), Body=bytes(data))

    def put_file(self, key: str, src_path: str | Path) -> None:
        s3_key = self.object_key(key)
        if os.path.getsize(src_path) <= PUT_PART:
            with open(src_path, "rb") as fh:
                self._call("put_object", Key=s3_key, Body=fh.read())
            return
        upload_id = self.start_multipart(key)
        parts = []
        try:
            with open(src_path, "rb") as fh:
                n = 1
                while chunk := fh.read(PUT_PART):
                    resp = self._call("upload_part", Key=s3_key, UploadId=upload_id,
                                      PartNumber=n, Body=chunk)
                    parts.append({"partNumber": n, "etag": resp["ETag"]})
                    n += 1
            self.complete_multipart(key, upload_id, parts, 0)
        except BaseException:
            self.abort_multipart(key, upload_id)
            raise

    def download(self, key: str, dest: Path) -> None:
        """Stream the object to the file ``dest`` in CHUNK reads (blocking)."""
        async def fetch():
            resp = await self._client.get_object(Bucket=self.bucket, Key=s3_key)
            with open(dest, "wb") as fh:
                async with resp["Body"] as stream:
                    while chunk := await stream.read(CHUNK):
                        fh.write(chunk)
        s3_key = self.object_key(key)
        try:
            self._run(fetch())
        except ClientError as exc:
            raise _translated(exc) from None

    @contextlib.contextmanager
    def open_local(self, key: str) -> Iterator[Path]:
        """A local copy from the input cache, pinned (never pruned) inside the block."""
        with self.cache.use(self.object_key(key), lambda tmp: self.download(key, tmp)) \
                as path:
            yield path

    def local_path(self, key: str) -> Path:
        """A local copy from the input cache, NOT pinned: it may be pruned once the cache
        is over its budget; jobs use ``open_local``."""
        with self.cache.use(self.object_key(key), lambda tmp: self.download(key, tmp),
                            prune=False) as path:
            return path

    def open(self, key: str) -> BinaryIO:
        tmpdir = Path(tempfile.mkdtemp(prefix="s3get-"))
        try:
            self.download(key, tmpdir / "obj")
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
        return int(self._call("head_object", Key=self.object_key(key))["ContentLength"])

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=self.object_key(key))
        self.cache.discard(self.object_key(key))

    def delete_prefix(self, prefix: str) -> int:
        prefix = prefix.rstrip("/")
        s3_prefix = self.object_key(prefix + "/x")[:-1]
        count, token = 0, None
        while True:
            params = {"Prefix": s3_prefix}
            if token:
                params["ContinuationToken"] = token
            page = self._call("list_objects_v2", **params)
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self._call("delete_objects", Delete={"Objects": keys, "Quiet": True})
                count += len(keys)
                for k in keys:
                    self.cache.discard(k["Key"])
            token = page.get("NextContinuationToken")
            if not token:
                break
        return count

    def sweep_orphans(self, cutoff: float) -> int:
        """Abort multipart uploads under the prefix started before ``cutoff`` (unix s)
        that are still open: those whose bookkeeping row was lost (a crash between
        starting one and recording it). Stale uploads the service knows are aborted
        through their rows first (``UploadService.sweep_stale``)."""
        prefix = self._under_prefix("uploads/")
        aborted, params = 0, {"Prefix": prefix}
        while True:
            page = self._call("list_multipart_uploads", **params)
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() < cutoff:
                    try:
                        self._call("abort_multipart_upload", Key=upload["Key"],
                                   UploadId=upload["UploadId"])
                        aborted += 1
                    except BlobError as exc:
                        if exc.code != "NoSuchUpload":
                            raise
            if not page.get("IsTruncated"):
                return aborted
            params = {"Prefix": prefix, "KeyMarker": page.get("NextKeyMarker", ""),
                      "UploadIdMarker": page.get("NextUploadIdMarker", "")}

    # ---- signing and uploads (blocking) -------------------------------------------------
    def _get_params(self, key: str, method: str, extra: dict) -> tuple[str, dict]:
        params = {"Key": self.object_key(key)}
        if method.upper() == "PUT":
            return "put_object", params
        if extra.get("filename"):
            params["ResponseContentDisposition"] = f'attachment; filename="{extra["filename"]}"'
        return "get_object", params

    def _presign(self, op: str, expires_in: int, **params) -> str:
        return self._run(self._client.generate_presigned_url(
            op, Params={"Bucket": self.bucket, **params}, ExpiresIn=int(expires_in)))

    def signed_url(self, key: str, method: str = "GET", expires_in: int = 3600,
                   **extra) -> str:
        op, params = self._get_params(key, method, extra)
        return self._presign(op, expires_in, **params)

    def presign_put(self, key: str, upload_id: str, max_size: int,
                    expires_in: int = 3600) -> str:
        return self.signed_url(key, "PUT", expires_in)

    def start_multipart(self, key: str) -> str:
        return self._call("create_multipart_upload", Key=self.object_key(key))["UploadId"]

    def presign_part(self, key: str, upload_id: str, part_number: int, max_size: int,
                     expires_in: int = 3600) -> str:
        return self._presign("upload_part", expires_in, Key=self.object_key(key),
                             UploadId=upload_id, PartNumber=int(part_number))

    def complete_multipart(self, key: str, upload_id: str, parts: list[dict],
                           min_part_size: int) -> None:
        self._call("complete_multipart_upload", Key=self.object_key(key),
                   UploadId=upload_id, MultipartUpload=_completion(parts))

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._call("abort_multipart_upload", Key=self.object_key(key), UploadId=upload_id)

    # ---- coroutines (the API's IOLoop) ---------------------------------------------------
    async def _apresign(self, op: str, expires_in: int, **params) -> str:
        client = await self._aclient()
        return await client.generate_presigned_url(
            op, Params={"Bucket": self.bucket, **params}, ExpiresIn=int(expires_in))

    async def asigned_url(self, key: str, method: str = "GET", expires_in: int = 3600,
                          **extra) -> str:
        op, params = self._get_params(key, method, extra)
        return await self._apresign(op, expires_in, **params)

    async def apresign_put(self, key: str, upload_id: str, max_size: int,
                           expires_in: int = 3600) -> str:
        return await self.asigned_url(key, "PUT", expires_in)

    async def astart_multipart(self, key: str) -> str:
        resp = await self._acall("create_multipart_upload", Key=self.object_key(key))
        return resp["UploadId"]

    async def apresign_part(self, key: str, upload_id: str, part_number: int, max_size: int,
                            expires_in: int = 3600) -> str:
        return await self._apresign("upload_part", expires_in, Key=self.object_key(key),
                                    UploadId=upload_id, PartNumber=int(part_number))

    async def acomplete_multipart(self, key: str, upload_id: str, parts: list[dict],
                                  min_part_size: int) -> None:
        await self._acall("complete_multipart_upload", Key=self.object_key(key),
                          UploadId=upload_id, MultipartUpload=_completion(parts))

    async def aabort_multipart(self, key: str, upload_id: str) -> None:
        await self._acall("abort_multipart_upload", Key=self.object_key(key),
                          UploadId=upload_id)

    async def asize(self, key: str) -> int:
        resp = await self._acall("head_object", Key=self.object_key(key))
        return int(resp["ContentLength"])

    async def adelete(self, key: str) -> None:
        await self._acall("delete_object", Key=self.object_key(key))
        self.cache.discard(self.object_key(key))

    async def aread_bytes(self, key: str) -> bytes:
        resp = await self._acall("get_object", Key=self.object_key(key))
        async with resp["Body"] as stream:
            return await stream.read()


def _completion(parts: list[dict]) -> dict:
    """The MultipartUpload body of CompleteMultipartUpload (order checked first)."""
    check_part_order(parts)
    return {"Parts": [{"PartNumber": p["partNumber"],
                       "ETag": '"' + str(p["etag"]).strip().strip('"') + '"'}
                      for p in parts]}
