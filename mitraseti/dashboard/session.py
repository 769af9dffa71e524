"""The dashboard's conversation with the REST API (no widgets here).

One ``DashboardSession`` per signed-in user: it wraps ``mitraseti.client.Client`` (which owns
uploading), plans uploads that the browser sends itself, remembers which local file each job
analysed (so the job page can open the observation in the waterfall explorer), and collects
download links.
"""
from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path
from typing import Any, Callable

from mitraseti.client import INLINE_FORMATS as INLINE  # formats the API sends inline
from mitraseti.client import DEFAULT_API_URL, Client, MitraSETIAPIError, api_url_from_env
from mitraseti.export.formats import DOWNLOAD_FORMATS

__all__ = ["DEFAULT_API_URL", "FORMATS", "DashboardSession", "api_url_from_env"]
FORMATS = list(DOWNLOAD_FORMATS)
SUFFIXES = (".fil", ".h5")
Progress = Callable[[int, int], None]


class DashboardSession:
    """API access for one credential: an API key (``sk_live_...``) or a JWT token."""

    def __init__(self, api_url: str, credential: str, cache_dir: str | Path | None = None,
                 timeout: float = 30.0):
        credential = (credential or "").strip()
        if not credential:
            raise ValueError("enter an API key (sk_live_...) or a token to sign in")
        self.api_url = api_url.rstrip("/")
        if credential.startswith("sk_"):
            self.client = Client(self.api_url, api_key=credential, timeout=timeout)
        else:
            self.client = Client(self.api_url, token=credential, timeout=timeout)
        self.cache_dir = Path(cache_dir) if cache_dir else Path(
            tempfile.mkdtemp(prefix="mitraseti-dashboard-"))
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._index_path = self.cache_dir / "jobs.json"
        self.local_files: dict[str, str] = self._load_index()

    def _load_index(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._index_path.read_text()))
        except (OSError, ValueError):
            return {}

    def _remember(self, job_id: str, path: Path) -> None:
        self.local_files[job_id] = str(path)
        self._index_path.write_text(json.dumps(self.local_files))

    # ---- account ------------------------------------------------------------------
    def sign_in(self) -> dict:
        """Check the credential; returns the usage record (tier and quotas)."""
        return self.client.usage()

    def usage(self) -> dict:
        return self.client.usage()

    def keys(self) -> list[dict]:
        return self.client.list_keys()

    def create_key(self, name: str, ttl_days: int) -> dict:
        return self.client.create_key(name=name or "Default", ttl_days=int(ttl_days))

    def revoke_key(self, key_id: str) -> dict:
        return self.client.revoke_key(key_id)

    # ---- files and jobs -----------------------------------------------------------
    def upload(self, path: str | Path, progress: Progress | None = None) -> str:
        """Stream a file on this machine's disk to the API (the client's upload: one PUT, or
        10 MB parts above 50 MB); returns its file_key. ``progress(done, total)`` bytes."""
        return self.client.upload(path, progress=progress or False)

    # ---- uploads made by the browser (the kernel never sees the bytes) ----------------
    def plan_browser_upload(self, name: str, size: int) -> dict:
        """Ask the API where the browser should PUT ``name`` (``size`` bytes). Returns the
        plan with ``pieces``: [{partNumber (None for a single PUT), url (absolute), offset,
        length}] covering the file, for the browser to send."""
        name = Path(name).name
        if not name.lower().endswith(SUFFIXES):
            raise ValueError(f"{name}: only .fil (SIGPROC) and .h5 (Breakthrough Listen) "
                             f"files can be analysed")
        plan = self.client.plan_upload(name, int(size))
        if plan.get("multipart"):
            step = int(plan["part_size"])
            pieces = [{"partNumber": part["partNumber"], "url": self._absolute(part["url"]),
                       "offset": i * step, "length": min(step, int(size) - i * step)}
                      for i, part in enumerate(plan["parts"])]
        else:
            pieces = [{"partNumber": None, "url": self._absolute(plan["upload_url"]),
                       "offset": 0, "length": int(size)}]
        return {**plan, "filename": name, "size": int(size), "pieces": pieces}

    def finish_browser_upload(self, plan: dict, etags: dict, source_name: str | None = None,
                              **params: Any) -> dict:
        """After the browser sent every piece (``etags``: {partNumber: ETag}), complete a
        multipart upload and start the analysis; returns the 202 body (job_id, ...)."""
        self._complete(plan, etags)
        return self.client.analyze(plan["file_key"], filename=plan["filename"],
                                   source_name=source_name or None, **params)

    def finish_browser_cadence(self, plans: list[dict], etags: list[dict],
                               filter_level: int = 3, source_name: str | None = None,
                               **params: Any) -> dict:
        """The browser sent every file of a cadence (``plans`` in cadence order, ``etags``
        one dict per file): complete the uploads and start one cadence job."""
        for plan, tags in zip(plans, etags, strict=True):
            self._complete(plan, tags)
        keys = [plan["file_key"] for plan in plans]
        return self.client.analyze(keys[0], filename=plans[0]["filename"],
                                   source_name=source_name or None, cadence=keys,
                                   filter_level=int(filter_level), **params)

    def _complete(self, plan: dict, etags: dict) -> None:
        """Complete a multipart ``plan`` with the browser's ETags ({partNumber: ETag})."""
        if plan.get("multipart"):
            parts = [{"partNumber": p["partNumber"], "etag": etags[str(p["partNumber"])]}
                     for p in plan["pieces"]]
            self.client.complete_upload(plan, parts)

    def abort_browser_upload(self, plan: dict) -> None:
        """Drop the parts of an unfinished multipart upload (a single PUT leaves nothing)."""
        if plan.get("multipart"):
            self.client.abort_upload(plan)

    def _absolute(self, url: str) -> str:
        return url if "://" in url else self.api_url + "/" + url.lstrip("/")

    def submit(self, path: str | Path, source_name: str | None = None,
               progress: Progress | None = None, **params: Any) -> dict:
        """Upload ``path`` and start its analysis; returns the 202 body (job_id, ...)."""
        path = Path(path)
        file_key = self.upload(path, progress)
        job = self.client.analyze(file_key, filename=path.name,
                                  source_name=source_name or None, **params)
        self._remember(job["job_id"], path)
        return job

    def submit_cadence(self, paths, filter_level: int = 3, source_name: str | None = None,
                       progress: Progress | None = None, **params: Any) -> dict:
        """Upload every file of a cadence (``paths`` in cadence order: ON, OFF, ON, OFF,
        ...) and start one cadence job; ``progress(done, total)`` in bytes over all files.
        Returns the 202 body (job_id, ...)."""
        paths = [Path(p) for p in paths]
        sizes = [p.stat().st_size for p in paths]
        total, keys = sum(sizes), []
        for k, path in enumerate(paths):
            offset = sum(sizes[:k])
            keys.append(self.upload(path, None if progress is None else (
                lambda done, _t, offset=offset: progress(offset + done, total))))
        job = self.client.analyze(keys[0], filename=paths[0].name, source_name=source_name,
                                  cadence=keys, filter_level=int(filter_level), **params)
        self._remember(job["job_id"], paths[0])
        return job

    def jobs(self, limit: int = 50) -> list[dict]:
        return self.client.jobs(limit=limit)

    def job(self, job_id: str) -> dict:
        return self.client.job(job_id)

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued or running job; returns the job."""
        return self.client.cancel(job_id)

    def retry(self, job_id: str) -> dict:
        """Run a failed or cancelled job again; returns the 202 body."""
        return self.client.retry(job_id)

    def local_observation(self, job_id: str) -> Path | None:
        """The file this dashboard uploaded for ``job_id``, if it still exists."""
        p = self.local_files.get(job_id)
        return Path(p) if p and Path(p).exists() else None

    def results(self, job_id: str) -> dict | None:
        """The job's results.json, or None while it is not available (404)."""
        try:
            data = self.client.download(job_id, "json")
        except MitraSETIAPIError as exc:
            if exc.status == 404:
                return None
            raise
        return json.loads(data)

    def download(self, job_id: str, fmt: str) -> bytes:
        return self.client.download(job_id, fmt)

    def download_links(self, job_id: str) -> dict[str, dict]:
        """``{format: {"url", "filename"}}`` for every export that is available.

        Binary formats get their signed URL; the inline CSVs (signals, a cadence's events)
        become data: URLs. Formats not yet available (404) are left out."""
        links: dict[str, dict] = {}
        for fmt in FORMATS:
            try:
                resp = self.client.request("GET", f"/jobs/{job_id}/download",
                                           params={"format": fmt})
            except MitraSETIAPIError as exc:
                if exc.status == 404:
                    continue
                raise
            if fmt in INLINE:
                b64 = base64.b64encode(resp.content).decode()
                links[fmt] = {"url": f"data:text/csv;base64,{b64}",
                              "filename": f"{job_id[:8]}_{INLINE[fmt]}"}
            else:
                info = resp.json()
                links[fmt] = {"url": self._absolute(info["download_url"]),
                              "filename": info.get("filename", fmt)}
        return links

