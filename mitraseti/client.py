"""Python client for the MitraSETI REST API (a local server or a hosted one).

    from mitraseti.client import Client
    api = Client("http://127.0.0.1:8000", api_key="sk_live_...")
    key = api.upload("observation.fil")              # multipart above 50 MB
    job = api.analyze(key, max_drift=4.0, snr=10)
    done = api.wait(job["job_id"], timeout=600)
    api.download(job["job_id"], "csv", dest="signals.csv")
    cad = api.analyze_cadence(["on1.h5", "off1.h5", "on2.h5", "off2.h5", "on3.h5",
                               "off3.h5"])                  # upload all + one cadence job
    api.download(cad["job_id"], "events", dest="events.csv")
    api.cancel(job_id); api.retry(job_id)                   # job control
    for job in api.iter_jobs(): ...                         # every job, page by page

Uses requests + tqdm only. Every non-2xx answer raises ``MitraSETIAPIError`` carrying the
HTTP status, the ``error`` text and the whole JSON body.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import requests

from mitraseti.errors import MitraSETIError
from mitraseti.export import formats

MULTIPART_THRESHOLD = 50 * 1024 * 1024   # bytes; the server decides, this is the hint
FINISHED = ("complete", "failed", "cancelled")
DEFAULT_API_URL = "http://127.0.0.1:8000"
# formats the API returns inline (text/csv) -> file name used when ``dest`` is a folder
INLINE_FORMATS = {fmt: formats.DOWNLOAD_FORMATS[fmt] for fmt in formats.INLINE_FORMATS}


def api_url_from_env(env: dict | None = None) -> str:
    """``$MITRASETI_API_URL`` or http://127.0.0.1:8000 (no trailing slash)."""
    env = os.environ if env is None else env
    return (env.get("MITRASETI_API_URL") or DEFAULT_API_URL).rstrip("/")


class MitraSETIAPIError(MitraSETIError):
    """An API call answered with an error status. Fields: ``status`` (HTTP status),
    ``error`` (the server's message), ``body`` (the decoded JSON, or the text)."""

    def __init__(self, status: int, error: str, body: Any = None):
        super().__init__(f"HTTP {status}: {error}", status=status, error=error, body=body)


class JobTimeout(MitraSETIError, TimeoutError):
    """``Client.wait`` gave up. Fields: ``job_id``, ``timeout`` (s), ``job`` (the last
    status seen)."""

    def __init__(self, job_id: str, timeout: float, job: dict):
        super().__init__(f"job {job_id} still {job.get('status')!r} after {timeout:g} s",
                         job_id=job_id, timeout=timeout, job=job)


def _progress_bar(total: int | None, desc: str, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, disable=not enabled,
                leave=False)


class _CallbackProgress:
    """tqdm's ``update(n)`` for a ``progress(done, total)`` callable (a context manager)."""

    def __init__(self, progress: Callable[[int, int], None], total: int):
        self.progress, self.total, self.done = progress, total, 0
        progress(0, total)

    def update(self, n: int) -> None:
        self.done += n
        self.progress(self.done, self.total)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _progress_for(progress, total: int, desc: str):
    """A bar for ``Client.upload``'s ``progress`` argument (bool or callable)."""
    if callable(progress):
        return _CallbackProgress(progress, total)
    return _progress_bar(total, desc, bool(progress))


class _ChunkReader:
    """File-like view of ``length`` bytes from ``offset`` that advances a progress bar."""

    def __init__(self, path: Path, offset: int, length: int, bar):
        self._fh = open(path, "rb")
        self._fh.seek(offset)
        self._left = length
        self._bar = bar
        self.len = length            # requests uses this for Content-Length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._fh.read(size)
        self._left -= len(data)
        self._bar.update(len(data))
        return data

    def close(self) -> None:
        self._fh.close()


class Client:
    """``Client(base_url, api_key=...)`` or ``Client(base_url, token=...)`` (JWT)."""

    def __init__(self, base_url: str, api_key: str | None = None, token: str | None = None,
                 timeout: float = 60.0, session: requests.Session | None = None):
        if not base_url:
            raise ValueError("base_url must be the API's URL, e.g. http://127.0.0.1:8000")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        if api_key:
            self.session.headers["x-api-key"] = api_key
        elif token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # ---- plumbing -------------------------------------------------------------------
    def request(self, method: str, path: str, **kw) -> requests.Response:
        """Call ``path`` (relative to base_url); raise MitraSETIAPIError on >= 400."""
        kw.setdefault("timeout", self.timeout)
        resp = self.session.request(method, self.base_url + path, **kw)
        _raise_for(resp)
        return resp

    def _json(self, method: str, path: str, **kw) -> Any:
        return self.request(method, path, **kw).json()

    # ---- endpoints ------------------------------------------------------------------
    def health(self) -> dict:
        return self._json("GET", "/health")

    def usage(self) -> dict:
        return self._json("GET", "/usage")

    def plan_upload(self, filename: str, size: int) -> dict:
        """POST /upload-url: where to PUT a file of ``size`` bytes. Returns ``upload_url``
        (one PUT), or ``multipart`` with ``parts`` [{partNumber, url}] of ``part_size``
        bytes; always ``file_key`` and ``max_size_mb``. 413 above the tier's limit."""
        return self._json("POST", "/upload-url",
                          json={"filename": filename, "file_size": int(size)})

    def complete_upload(self, plan: dict, parts: list[dict]) -> dict:
        """POST /complete-upload: join the parts ([{partNumber, etag}]) of ``plan``."""
        return self._json("POST", "/complete-upload", json={
            "file_key": plan["file_key"], "upload_id": plan["upload_id"], "parts": parts})

    def abort_upload(self, plan: dict) -> dict:
        """POST /abort-upload: drop the uploaded parts of a multipart ``plan``."""
        return self._json("POST", "/abort-upload", json={
            "file_key": plan["file_key"], "upload_id": plan["upload_id"]})

    def upload(self, path: str | os.PathLike,
               progress: bool | Callable[[int, int], None] = True) -> str:
        """Upload an observation (.fil / .h5) from disk, streamed; returns its
        ``file_key``. Files above 50 MB go up in parts (10 MB each) and are completed with
        /complete-upload. ``progress``: a tqdm bar (True), none (False), or a callable
        ``progress(done_bytes, total_bytes)``."""
        path = Path(path)
        size = path.stat().st_size
        plan = self.plan_upload(path.name, size)
        with _progress_for(progress, size, f"upload {path.name}") as bar:
            if plan.get("multipart"):
                parts = []
                part_size = int(plan["part_size"])
                for i, part in enumerate(plan["parts"]):
                    offset = i * part_size
                    reader = _ChunkReader(path, offset, min(part_size, size - offset), bar)
                    try:
                        r = self._put(part["url"], reader)
                    finally:
                        reader.close()
                    parts.append({"partNumber": part["partNumber"], "etag": r.headers["ETag"]})
                self.complete_upload(plan, parts)
            else:
                reader = _ChunkReader(path, 0, size, bar)
                try:
                    self._put(plan["upload_url"], reader)
                finally:
                    reader.close()
        return plan["file_key"]

    def _put(self, url: str, data) -> requests.Response:
        resp = requests.put(url, data=data, timeout=max(self.timeout, 600),
                            headers={"Content-Type": "application/octet-stream"})
        _raise_for(resp)
        return resp

    def analyze(self, file_key: str, filename: str | None = None,
                source_name: str | None = None, **params: Any) -> dict:
        """Start a job; ``params``: max_drift (Hz/s), min_drift (Hz/s), snr,
        n_coarse_chan, webhook_url. Returns the 202 body (job_id, status, ...)."""
        body: dict[str, Any] = {"file_key": file_key}
        if filename is not None:
            body["filename"] = filename
        if source_name is not None:
            body["source_name"] = source_name
        body.update({k: v for k, v in params.items() if v is not None})
        return self._json("POST", "/analyze", json=body)

    def analyze_cadence(self, paths, filter_level: int = 3, filename: str | None = None,
                        source_name: str | None = None, progress: bool = True,
                        **params: Any) -> dict:
        """Upload every file of an ON/OFF cadence (``paths`` in observing order, ON first:
        ON, OFF, ON, OFF, ...; at least 4) and start ONE cadence job on them. The job counts
        each file against the monthly quota. ``filter_level``: turboSETI find_event level
        1-3; ``params`` as for :meth:`analyze`. Returns the 202 body (job_id, ...)."""
        paths = [Path(p) for p in paths]
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"cadence file {p} does not exist")
        keys = [self.upload(p, progress=progress) for p in paths]
        return self.analyze(keys[0], filename=filename or paths[0].name,
                            source_name=source_name, cadence=keys,
                            filter_level=filter_level, **params)

    def job(self, job_id: str) -> dict:
        return self._json("GET", f"/jobs/{job_id}")

    def jobs(self, limit: int = 50, cursor: str | None = None) -> list[dict]:
        """One page of the caller's jobs, newest first (``limit`` 1-100), after
        ``cursor`` (see :meth:`jobs_page`)."""
        return self.jobs_page(limit, cursor)[0]

    def jobs_page(self, limit: int = 50,
                  cursor: str | None = None) -> tuple[list[dict], str | None]:
        """(jobs, the next page's cursor or None on the last page)."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        resp = self.request("GET", "/jobs", params=params)
        return resp.json(), resp.headers.get("X-Next-Cursor") or None

    def iter_jobs(self, page_size: int = 100) -> Iterator[dict]:
        """Every job of the caller, newest first, fetched ``page_size`` at a time; jobs
        submitted during the walk are not shown and shift nothing."""
        cursor = None
        while True:
            page, cursor = self.jobs_page(page_size, cursor)
            yield from page
            if not cursor:
                return

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued or running job; returns the job (status ``cancelled``). A
        finished job raises MitraSETIAPIError with status 409."""
        return self._json("POST", f"/jobs/{job_id}/cancel")

    def retry(self, job_id: str) -> dict:
        """Run a failed or cancelled job again (same id); returns the 202 body. 409 for
        another status, 429 at the concurrent-job limit."""
        return self._json("POST", f"/jobs/{job_id}/retry")

    def wait(self, job_id: str, timeout: float = 3600, poll: float = 2,
             progress: bool = True, exports: bool = False) -> dict:
        """Poll until the job is complete, failed or cancelled (and, with ``exports``,
        until a complete job's exports are uploaded); returns the final job JSON or raises
        JobTimeout."""
        from tqdm.auto import tqdm

        deadline = time.monotonic() + timeout
        with tqdm(total=100, desc=f"job {job_id[:8]}", disable=not progress,
                  leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}") as bar:
            while True:
                job = self.job(job_id)
                frac = (job.get("progress") or {}).get("fraction", 0.0)
                done = job["status"] in FINISHED
                bar.n = 100 if done else int(100 * float(frac))
                bar.set_postfix_str(job["status"])
                if done and (not exports or job["status"] != "complete"
                             or job.get("exports_ready")):
                    return job
                if time.monotonic() + poll > deadline:
                    raise JobTimeout(job_id, timeout, job)
                time.sleep(poll)

    def download(self, job_id: str, format: str = "json",
                 dest: str | os.PathLike | None = None) -> Path | bytes:
        """Fetch one export. With ``dest`` writes the file there and returns its path,
        else returns the bytes. CSV (``csv``, a cadence job's ``events``) comes inline;
        other formats via the signed URL (``events_png``: a zip of one PNG per event)."""
        resp = self.request("GET", f"/jobs/{job_id}/download", params={"format": format})
        if format in INLINE_FORMATS:
            data = resp.content
        else:
            info = resp.json()
            got = requests.get(info["download_url"], timeout=max(self.timeout, 600))
            _raise_for(got)
            data = got.content
            if dest is not None and Path(dest).is_dir():
                dest = Path(dest) / info["filename"]
        if dest is None:
            return data
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / f"{job_id[:8]}_{INLINE_FORMATS.get(format, format)}"
        dest.write_bytes(data)
        return dest

    def create_key(self, name: str = "Default", ttl_days: int = 90) -> dict:
        return self._json("POST", "/api-keys", json={"name": name, "ttl_days": ttl_days})

    def list_keys(self) -> list[dict]:
        return self._json("GET", "/api-keys")["keys"]

    def revoke_key(self, key_id: str) -> dict:
        return self._json("DELETE", f"/api-keys/{key_id}")

    def report(self, job_id: str, error_type: str | None = None,
               description: str | None = None, metadata: dict | None = None) -> dict:
        body: dict[str, Any] = {"job_id": job_id}
        for k, v in (("error_type", error_type), ("description", description),
                     ("metadata", metadata)):
            if v is not None:
                body[k] = v
        return self._json("POST", "/reports", json=body)


def _raise_for(resp: requests.Response) -> None:
    if resp.status_code < 400:
        return
    try:
        body = resp.json()
    except ValueError:
        body = resp.text
    error = body.get("error") if isinstance(body, dict) else None
    raise MitraSETIAPIError(resp.status_code, error or resp.reason or "error", body)
