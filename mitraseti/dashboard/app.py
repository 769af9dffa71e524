"""The web dashboard (served by Voila from notebooks/dashboard.ipynb).

Sign in with an API key or a token, upload and analyse observations (one file, or several
as one ON/OFF cadence with each file's role chosen), follow jobs in a table
that refreshes by itself, open a job page, manage API keys and see the tier's quotas. The
API's base URL comes from ``$MITRASETI_API_URL`` (default http://127.0.0.1:8000); when
``$MITRASETI_API_KEY`` or ``$MITRASETI_API_TOKEN`` is set (the Jupyter extension sets the
latter to Jupyter's token) the dashboard signs in with it. Errors from the API are shown as
readable messages, never as tracebacks.

A file from the user's computer goes from the browser straight to the API's upload URLs
(:class:`~mitraseti.dashboard.browser_upload.BrowserUpload`): the kernel never holds it, and
only the tier limits its size. A file already on the machine that runs the kernel (the
Jupyter server's disk) is streamed from there by the client, and its job page gets the
interactive waterfall explorer.
"""
from __future__ import annotations

import functools
import json
import os
import threading
import time
from pathlib import Path

import ipywidgets as w

from mitraseti.dashboard import format as fmt
from mitraseti.dashboard.browser_upload import BrowserUpload
from mitraseti.dashboard.cadence import CadencePanel
from mitraseti.dashboard.jobpage import JobPage
from mitraseti.dashboard.session import DashboardSession, api_url_from_env

TABS = ("Upload", "Jobs", "Job", "API Keys", "Usage")
ROW = w.Layout(border_bottom="1px solid #ddd", padding="2px", align_items="center")


def guarded(action: str):
    """Run a UI callback under the dashboard lock; show any error as a message."""
    def wrap(method):
        @functools.wraps(method)
        def run(self, *args, **kwargs):
            with self.lock:
                try:
                    return method(self, *args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - the user sees a message instead
                    self.show_error(exc, action)
                    return None
        return run
    return wrap


class Dashboard(w.VBox):
    """The whole dashboard as one widget. ``refresh_s``: jobs table period (s)."""

    def __init__(self, api_url: str | None = None, credential: str | None = None,
                 refresh_s: float | None = None, cache_dir: str | None = None, **kwargs):
        from mitraseti.widgets.explorer import load_bokehjs

        load_bokehjs()      # job pages build bokeh widgets in callbacks, where it cannot load
        self.api_url = (api_url or api_url_from_env()).rstrip("/")
        self.refresh_s = float(refresh_s or os.environ.get("MITRASETI_DASHBOARD_REFRESH_S",
                                                           5.0))
        self.cache_dir = cache_dir
        self.session: DashboardSession | None = None
        self.job_page: JobPage | None = None
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._jobs_signature = ""
        self._browser_plan: dict | None = None
        self.message = w.HTML()
        self._build_sign_in()
        self._build_upload()
        self._build_jobs()
        self._build_keys()
        self.usage = w.HTML()
        self.job_box = w.VBox([w.HTML("<i>open a job from the Jobs tab</i>")])
        self.tabs = w.Tab(children=[self.upload_panel, self.jobs_panel, self.job_box,
                                    self.keys_panel, w.VBox([self.usage])])
        for i, title in enumerate(TABS):
            self.tabs.set_title(i, title)
        self.tabs.layout.display = "none"
        super().__init__([w.HTML(f"<h2>MitraSETI dashboard</h2><div style='color:#666'>API "
                                 f"{fmt.esc(self.api_url)}</div>"),
                          self.sign_in_box, self.message, self.tabs], **kwargs)
        self.add_class("mitraseti-dashboard")
        credential = (credential or os.environ.get("MITRASETI_API_KEY")
                      or os.environ.get("MITRASETI_API_TOKEN"))
        if credential:
            self.sign_in(credential)

    # ---- messages -----------------------------------------------------------------
    def show_error(self, exc: BaseException, action: str = "") -> None:
        self.message.value = fmt.error_html(exc, action)

    def show_info(self, text: str) -> None:
        self.message.value = fmt.info_html(text)

    # ---- sign in ------------------------------------------------------------------
    def _build_sign_in(self) -> None:
        self.credential = w.Password(placeholder="sk_live_... API key or token",
                                     description="API key", layout=w.Layout(width="520px"))
        self.sign_in_button = w.Button(description="Sign in", button_style="primary")
        self.sign_in_button.on_click(lambda _b: self.sign_in(self.credential.value))
        self.signed_in_as = w.HTML()
        self.sign_in_box = w.HBox([self.credential, self.sign_in_button, self.signed_in_as])

    @guarded("sign in")
    def sign_in(self, credential: str) -> None:
        session = DashboardSession(self.api_url, credential, cache_dir=self.cache_dir)
        usage = session.sign_in()
        self.session = session
        self.credential.value = ""
        tier = fmt.esc(usage.get("tier"))
        self.signed_in_as.value = f"<span class='signed-in'>signed in ({tier} tier)</span>"
        self.usage.value = fmt.usage_html(usage)
        max_mb = (usage.get("tier_details") or {}).get("max_file_mb")
        self.browser_upload.limit_bytes = int(float(max_mb) * 1024 * 1024) if max_mb else 0
        self.tabs.layout.display = None
        self.show_info("signed in")
        self.refresh_jobs()
        self.refresh_keys()
        self.start_refresh()

    # ---- upload -------------------------------------------------------------------
    def _build_upload(self) -> None:
        self.browser_upload = BrowserUpload()
        self.browser_upload.on_sent(self._browser_upload_sent)
        self.browser_upload.on_failed(self._browser_upload_failed)
        self.server_path = w.Text(placeholder="/data/observation.fil", description="or path",
                                  layout=w.Layout(width="520px"))
        self.source_name = w.Text(placeholder="defaults to the file name",
                                  description="source")
        self.max_drift = w.BoundedFloatText(value=4.0, min=0.001, max=1000.0,
                                            description="max drift")
        self.snr = w.BoundedFloatText(value=10.0, min=0.1, max=1e6, description="S/N")
        self.submit_button = w.Button(description="Upload & analyze", button_style="success",
                                      icon="upload")
        self.submit_button.on_click(lambda _b: self.submit_upload())
        self.upload_progress = w.FloatProgress(value=0.0, min=0.0, max=1.0,
                                               description="upload")
        self.upload_status = w.HTML()
        self.upload_status.add_class("upload-status")
        self.cadence_panel = CadencePanel(self)      # shares source, drift, S/N, progress
        self.upload_panel = w.VBox([
            w.HTML("<b>A file on your computer</b> <small>(sent by this browser straight "
                   "to the API, in parts)</small>"), self.browser_upload,
            w.HTML("<b>or a file on the server</b> <small>(a path on the machine that runs "
                   "this notebook; its job page gets the interactive explorer)</small>"),
            self.server_path, self.source_name,
            w.HBox([self.max_drift, w.HTML("Hz/s")]), self.snr, self.submit_button,
            self.upload_progress, self.upload_status, self.cadence_panel])

    def _on_progress(self, done: int, total: int) -> None:
        self.upload_progress.value = done / total if total else 1.0
        self.upload_status.value = f"uploaded {fmt.size(done)} of {fmt.size(total)}"

    def _search_params(self) -> dict:
        return {"source_name": self.source_name.value.strip() or None,
                "max_drift": self.max_drift.value, "snr": self.snr.value}

    @guarded("upload")
    def submit_upload(self) -> dict | None:
        """Start the upload: a server path is streamed from here and its job returned; a
        file picked in the browser is sent by the browser (the job follows, None now)."""
        if self.session is None:
            raise RuntimeError("sign in first")
        path = self.server_path.value.strip()
        if path:
            self.upload_progress.value = 0.0
            job = self.session.submit(Path(path).expanduser(), progress=self._on_progress,
                                      **self._search_params())
            self.server_path.value = ""
            self._submitted(job)
            return job
        up = self.browser_upload
        if not up.chosen:
            raise ValueError("choose a .fil or .h5 file first, or give a path on the server")
        picked = up.files[0]
        self._browser_plan = self.session.plan_browser_upload(picked["name"], picked["size"])
        self.upload_status.value = (f"the browser is sending {fmt.esc(picked['name'])} "
                                    f"({fmt.size(picked['size'])})")
        up.start([{"index": 0, "pieces": self._browser_plan["pieces"]}])
        return None

    @guarded("upload")
    def _browser_upload_sent(self, etags: list[dict]) -> dict | None:
        plan, self._browser_plan = self._browser_plan, None
        if plan is None:
            return None
        try:
            job = self.session.finish_browser_upload(plan, etags[0], **self._search_params())
        except Exception as exc:
            self.browser_upload.finish(fmt.error_message(exc, "upload"), ok=False)
            self.session.abort_browser_upload(plan)
            raise
        self.browser_upload.finish(f"submitted job {job['job_id']}")
        self._submitted(job)
        return job

    @guarded("upload")
    def _browser_upload_failed(self, message: str) -> None:
        plan, self._browser_plan = self._browser_plan, None
        self.show_error(RuntimeError(message), "upload")
        if plan is not None:
            self.session.abort_browser_upload(plan)

    def _submitted(self, job: dict) -> None:
        """A job was started: say so, show the jobs table."""
        self.upload_status.value = (f"{self.upload_status.value}<br>submitted job "
                                    f"<code class='job-id'>"
                                    f"{fmt.esc(job['job_id'])}</code> "
                                    f"({fmt.esc(job.get('status'))})")
        self.show_info(f"job {job['job_id']} submitted")
        self.refresh_jobs()
        self.show_tab("Jobs")

    def show_tab(self, title: str) -> None:
        """Bring the tab ``title`` (one of TABS) to the front."""
        self.tabs.selected_index = TABS.index(title)

    # ---- jobs ---------------------------------------------------------------------
    def _build_jobs(self) -> None:
        self.jobs_rows = w.VBox()
        self.jobs_refreshed = w.HTML()
        refresh = w.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _b: self.refresh_jobs(force=True))
        self.jobs_panel = w.VBox([w.HBox([refresh, self.jobs_refreshed]), self.jobs_rows])
        self.jobs_panel.add_class("jobs-table")

    @guarded("loading the jobs")
    def refresh_jobs(self, force: bool = False) -> list[dict]:
        if self.session is None:
            return []
        jobs = self.session.jobs(limit=50)
        self.jobs_refreshed.value = f"<small>updated {time.strftime('%H:%M:%S')}</small>"
        signature = json.dumps(jobs, sort_keys=True, default=str)
        if force or signature != self._jobs_signature:
            self._jobs_signature = signature
            self.jobs_rows.children = [self._jobs_header()] + [self._job_row(j) for j in jobs]
        return jobs

    @staticmethod
    def _cells(values: list[str], widths: list[str]) -> list[w.HTML]:
        return [w.HTML(v, layout=w.Layout(width=wd)) for v, wd in zip(values, widths)]

    WIDTHS = ["150px", "220px", "110px", "230px", "130px"]

    def _jobs_header(self) -> w.HBox:
        names = ["submitted", "source", "status", "hits / candidates", "size"]
        return w.HBox(self._cells([f"<b>{n}</b>" for n in names], self.WIDTHS), layout=ROW)

    def _job_row(self, job: dict) -> w.HBox:
        r = job.get("results") or {}
        counts = (f"{r.get('raw_hits', '')} raw, {r.get('filtered_hits', '')} filtered, "
                  f"{r.get('candidates', '')} cand." if r else "")
        if "events" in r:
            counts += f" {r['events']} events"
        source = fmt.esc(job.get("source_name") or job.get("filename"))
        if job.get("cadence"):
            source += f" <small>(cadence of {len(job['cadence'])})</small>"
        cells = self._cells([fmt.when(job.get("created_at")), source,
                             fmt.status_badge(job.get("status", "?")), fmt.esc(counts),
                             fmt.size(job.get("file_size"))], self.WIDTHS)
        button = w.Button(description="Open", layout=w.Layout(width="80px"))
        button.add_class("open-job")
        button.on_click(lambda _b, jid=job["job_id"]: self.open_job(jid))
        row = w.HBox(cells + [button], layout=ROW)
        row.add_class("job-row")
        row.add_class(f"job-{job.get('status', 'unknown')}")
        return row

    @guarded("opening the job")
    def open_job(self, job_id: str) -> JobPage:
        if self.job_page is not None and self.job_page.explorer is not None:
            self.job_page.explorer.close()
        self.job_page = JobPage(self.session, job_id)
        self.job_box.children = [self.job_page]
        self.show_tab("Job")
        return self.job_page

    # ---- API keys -----------------------------------------------------------------
    def _build_keys(self) -> None:
        self.key_name = w.Text(value="Default", description="name")
        self.key_ttl = w.BoundedIntText(value=90, min=1, max=365, description="TTL (days)")
        create = w.Button(description="Create key", icon="key")
        create.on_click(lambda _b: self.create_key())
        self.new_key = w.HTML()
        self.keys_rows = w.VBox()
        self.keys_panel = w.VBox([w.HBox([self.key_name, self.key_ttl, create]),
                                  self.new_key, self.keys_rows])

    @guarded("creating the API key")
    def create_key(self) -> dict:
        key = self.session.create_key(self.key_name.value.strip(), self.key_ttl.value)
        self.new_key.value = (
            f"<div class='new-key' style='background:#ffd;padding:6px;border:1px solid #cc9'>"
            f"<b>New key (shown only once, copy it now):</b><br><code>"
            f"{fmt.esc(key['api_key'])}</code><br><small>expires "
            f"{fmt.when(key.get('expires_at'))}. {fmt.esc(key.get('warning', ''))}</small>"
            f"</div>")
        self.refresh_keys()
        return key

    @guarded("revoking the API key")
    def revoke_key(self, key_id: str) -> None:
        self.session.revoke_key(key_id)
        self.new_key.value = ""
        self.show_info(f"API key {key_id} revoked")
        self.refresh_keys()

    @guarded("loading the API keys")
    def refresh_keys(self) -> list[dict]:
        try:
            keys = self.session.keys()
        except Exception as exc:  # noqa: BLE001 - e.g. 403 on the free tier
            self.keys_rows.children = [w.HTML(fmt.error_html(exc, "listing API keys"))]
            return []
        widths = ["100px", "160px", "160px", "230px", "80px"]
        rows = [w.HBox(self._cells([f"<b>{h}</b>" for h in
                                    ("key id", "name", "created", "expires", "state")],
                                   widths), layout=ROW)]
        for key, cells in zip(keys, fmt.keys_rows(keys, time.time())):
            revoke = w.Button(description="Revoke", button_style="danger",
                              layout=w.Layout(width="80px"),
                              disabled=not key.get("active", True))
            revoke.on_click(lambda _b, kid=key["key_id"]: self.revoke_key(kid))
            rows.append(w.HBox(self._cells(cells, widths) + [revoke], layout=ROW))
        self.keys_rows.children = rows
        return keys

    # ---- periodic refresh -----------------------------------------------------------
    def tick(self) -> None:
        """One refresh: jobs table, the open job page while it changes, usage."""
        with self.lock:
            if self.session is None:
                return
            try:
                self.refresh_jobs()
                if self.job_page is not None and not self.job_page.finished:
                    self.job_page.refresh()
                self.usage.value = fmt.usage_html(self.session.usage())
            except Exception as exc:  # noqa: BLE001 - keep refreshing after a hiccup
                self.show_error(exc, "refresh")

    def start_refresh(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(self.refresh_s):
                self.tick()

        self._thread = threading.Thread(target=loop, name="mitraseti-dashboard-refresh",
                                        daemon=True)
        self._thread.start()

    def stop_refresh(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def close(self) -> None:
        self.stop_refresh()
        super().close()
