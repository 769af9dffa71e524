"""The job page: status, counts, candidates, the waterfall explorer, stamps, downloads; for a
cadence job, its events and the stacked waterfalls of each event instead of the explorer.
A Cancel button shows while the job is queued or running, Retry once it failed or was
cancelled."""
from __future__ import annotations

import io
import json
import logging
import time
from typing import Any

import ipywidgets as w
import numpy as np

from mitraseti.dashboard import format as fmt
from mitraseti.dashboard.session import DashboardSession

log = logging.getLogger("mitraseti.dashboard")
N_STAMPS = 4
CANCELLABLE = ("submitted", "processing")
RETRYABLE = ("failed", "cancelled")
REPORT_GRACE_S = 10.0      # s after a cancel in which the partial report may still appear


def stamp_png(stamp, hit: dict) -> bytes:
    """A small PNG of one hit: raw stamp with its drift line, and the de-drifted stamp."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 2.4), dpi=80)
    FigureCanvasAgg(fig)
    extent = [stamp.f_lo_mhz, stamp.f_lo_mhz + stamp.width * stamp.df_mhz, 0.0,
              stamp.t_span_s]
    finite = np.concatenate([stamp.raw[np.isfinite(stamp.raw)],
                             stamp.dedrifted[np.isfinite(stamp.dedrifted)]])
    lo, hi = (np.percentile(finite, [1, 99.5]) if finite.size else (0, 1))
    for k, (img, title) in enumerate(((stamp.raw, "raw"), (stamp.dedrifted, "de-drifted"))):
        ax = fig.add_subplot(1, 2, k + 1)
        ax.imshow(img, aspect="auto", origin="lower", extent=extent, vmin=lo, vmax=hi,
                  cmap="viridis", interpolation="nearest")
        if k == 0:
            ax.plot(stamp.drift_line_mhz, [0, stamp.t_span_s], "r--", lw=1)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.tick_params(labelsize=6)
    fig.suptitle(f"{hit.get('classification', '')}  {hit['frequency_hz'] / 1e6:.6f} MHz  "
                 f"{hit.get('drift_rate', 0):+.3f} Hz/s  S/N {hit.get('snr', 0):.1f}",
                 fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class JobPage(w.VBox):
    """Everything about one job; ``refresh()`` re-reads it from the API."""

    def __init__(self, session: DashboardSession, job_id: str, **kwargs):
        self.session, self.job_id = session, job_id
        self.job: dict = {}
        self.results: dict | None = None
        self.explorer = None
        self._downloads_for: Any = None
        self.header = w.HTML()
        self.cancel_button = w.Button(description="Cancel", button_style="warning",
                                      icon="stop", layout=w.Layout(display="none"))
        self.retry_button = w.Button(description="Retry", button_style="info",
                                     icon="redo", layout=w.Layout(display="none"))
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.retry_button.on_click(lambda _b: self.retry())
        self.actions = w.HBox([self.cancel_button, self.retry_button])
        self.message = w.HTML()
        self.counts = w.HTML()
        self.candidates = w.HTML()
        self.explorer_box = w.VBox()
        self.stamps_box = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.downloads = w.HTML()
        self.events = w.HTML()
        self.event_images = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self._events_for: Any = None
        self.events_section = w.VBox([
            w.HTML("<h4>Cadence events</h4>"), self.events,
            w.HTML("<h4>Stacked waterfalls (one per event, every file in time order)</h4>"),
            self.event_images], layout=w.Layout(display="none"))
        self.file_section = w.VBox([w.HTML("<h4>Waterfall</h4>"), self.explorer_box,
                                    w.HTML("<h4>Stamps</h4>"), self.stamps_box])
        super().__init__([self.header, self.actions, self.message, self.counts,
                          w.HTML("<h4>Top candidates</h4>"), self.candidates,
                          self.events_section, self.file_section,
                          w.HTML("<h4>Downloads</h4>"), self.downloads], **kwargs)
        self.add_class("mitraseti-job-page")
        self.refresh()

    @property
    def finished(self) -> bool:
        """Nothing more will change: polling may stop. A cancelled job's partial report
        is uploaded by the executor a moment after the cancel (it checks about once a
        second), so it is watched for ``REPORT_GRACE_S`` more."""
        status = self.job.get("status")
        if status == "cancelled":
            return time.time() - float(self.job.get("cancelled_at") or 0) > REPORT_GRACE_S
        return status == "failed" or (status == "complete" and bool(self.job.get(
            "exports_ready", True)) and self.results is not None)

    def cancel(self) -> None:
        """Cancel the job (the Cancel button), then show its new state."""
        self._act(self.session.cancel, "cancelling the job")

    def retry(self) -> None:
        """Run the failed or cancelled job again (the Retry button)."""
        self._act(self.session.retry, "retrying the job")
        self.results, self.explorer = None, None
        self._downloads_for = self._events_for = None

    def _act(self, call, what: str) -> None:
        try:
            call(self.job_id)
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            self.refresh()
            self.message.value = fmt.error_html(exc, what)
            return
        self.refresh()

    def refresh(self) -> None:
        """Fetch the job; fill in whatever became available since the last refresh."""
        try:
            self.job = self.session.job(self.job_id)
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            self.message.value = fmt.error_html(exc, "loading the job")
            return
        self.message.value = ""
        self._show_header()
        status = self.job.get("status")
        self.cancel_button.layout.display = None if status in CANCELLABLE else "none"
        self.retry_button.layout.display = None if status in RETRYABLE else "none"
        if status == "failed":
            self.message.value = fmt.error_html(RuntimeError(self.job.get("error", "")),
                                                "the analysis")
            return
        if status == "cancelled":
            self.message.value = (f"<i>cancelled {fmt.when(self.job.get('cancelled_at'))}"
                                  "; the report of the cells run so far is under Downloads "
                                  "(notebook)</i>")
            self._show_downloads()
            return
        if self.job.get("status") != "complete":
            return
        self.counts.value = fmt.counts_html(self.job)
        self._show_candidates()
        try:
            if self.results is None:
                self.results = self.session.results(self.job_id)
                self._show_candidates()
            ready = self.job.get("exports_ready", True)
            if self.is_cadence:
                if self._events_for != ready:
                    self._show_events(ready)
                    self._events_for = ready
            elif self.explorer is None:
                self._show_explorer()
            if self._downloads_for != ready:
                self._show_downloads()
                self._downloads_for = ready
        except Exception as exc:  # noqa: BLE001
            self.message.value = fmt.error_html(exc, "loading the results")

    @property
    def is_cadence(self) -> bool:
        return bool(self.job.get("cadence"))

    def _show_events(self, exports_ready: bool) -> None:
        """The events table, then one stacked-waterfall picture per event (from the
        ``events_png`` zip, once the exports are uploaded)."""
        from mitraseti.dashboard.cadence import event_pngs

        self.file_section.layout.display = "none"
        self.events_section.layout.display = None
        self.events.value = fmt.events_html((self.job.get("results") or {}).get(
            "top_events") or [])
        if not exports_ready:
            self.event_images.children = [w.HTML("<i>pictures are being generated...</i>")]
            return
        pictures = event_pngs(self.session.download(self.job_id, "events_png"))
        self.event_images.children = [
            w.VBox([w.HTML(f"<small>{fmt.esc(name)}</small>"),
                    w.Image(value=png, format="png", layout=w.Layout(max_width="480px"))])
            for name, png in pictures] or [w.HTML("<i>no events</i>")]

    def _show_candidates(self) -> None:
        """Top candidates of the job, completed from results.json once it is loaded."""
        top = (self.job.get("results") or {}).get("top_candidates") or []
        signals = (self.results or {}).get("signals") or []
        if not signals and self.results and self.results.get("files"):   # a cadence job
            signals = [s for f in self.results["files"] for s in f.get("signals") or []]
        self.candidates.value = fmt.candidates_html(fmt.with_signal_fields(top, signals))

    def _show_header(self) -> None:
        j = self.job
        progress = ""
        if j.get("status") == "processing":
            p = j.get("progress") or {}
            progress = (f" {fmt.esc(p.get('stage', ''))} "
                        f"{100 * float(p.get('fraction') or 0):.0f} %")
        cadence = (f" | cadence of {len(j['cadence'])} files, filter level "
                   f"{fmt.esc(j.get('filter_level'))}" if j.get("cadence") else "")
        self.header.value = (
            f"<h3 class='job-title'>{fmt.esc(j.get('source_name') or j.get('filename'))} "
            f"{fmt.status_badge(j.get('status', '?'))}{progress}</h3>"
            f"<div style='color:#555;font-size:12px'>job {fmt.esc(self.job_id)} | "
            f"{fmt.esc(j.get('filename'))} ({fmt.size(j.get('file_size'))}) | submitted "
            f"{fmt.when(j.get('created_at'))} | completed {fmt.when(j.get('completed_at'))}"
            f"{cadence}</div>")

    def _hits(self) -> list[dict]:
        if self.results and isinstance(self.results.get("signals"), list):
            return self.results["signals"]
        return list((self.job.get("results") or {}).get("top_candidates") or [])

    def _show_explorer(self) -> None:
        local = self.session.local_observation(self.job_id)
        if local is None:
            self._show_waterfall_png()
            return
        from mitraseti.widgets import WaterfallExplorer

        params = (self.results or {}).get("parameters") or {}
        self.explorer = WaterfallExplorer(local, hits=self._hits(), width=860, height=320,
                                          max_drift=float(params.get("max_drift") or 4.0))
        self.explorer.add_class("mitraseti-explorer")
        self.explorer_box.children = [self.explorer]
        self._show_stamps()

    def _show_waterfall_png(self) -> None:
        """No local copy of the observation: show the exported waterfall picture."""
        try:
            png = self.session.download(self.job_id, "waterfall")
        except Exception as exc:  # noqa: BLE001
            self.explorer_box.children = [w.HTML(fmt.error_html(exc, "the waterfall"))]
            return
        self.explorer = w.Image(value=png, format="png", layout=w.Layout(max_width="900px"))
        self.explorer_box.children = [
            w.HTML("<i>the observation is not cached in this dashboard session: showing "
                   "the exported waterfall picture</i>"), self.explorer]

    def _show_stamps(self) -> None:
        from mitraseti.widgets.stamps import hit_stamp

        hits = sorted(self._hits(), key=lambda h: (-float(h.get("interestingness") or 0),
                                                   -float(h.get("snr") or 0)))[:N_STAMPS]
        images = []
        for hit in hits:
            try:
                st = hit_stamp(self.explorer.view, hit)
                images.append(w.Image(value=stamp_png(st, hit), format="png"))
            except Exception:  # noqa: BLE001 - one bad stamp must not hide the others
                log.exception("stamp for hit %s failed", json.dumps(hit, default=str)[:200])
        self.stamps_box.children = images or [w.HTML("<i>no signals</i>")]

    def _show_downloads(self) -> None:
        links = self.session.download_links(self.job_id)
        if not links:
            self.downloads.value = "<i>exports are being generated...</i>"
            return
        items = "".join(
            f"<a class='download-link' href='{fmt.esc(v['url'])}' "
            f"download='{fmt.esc(v['filename'])}' target='_blank' style='margin-right:12px'>"
            f"{fmt.esc(k)} ({fmt.esc(v['filename'])})</a>" for k, v in links.items())
        self.downloads.value = f"<div class='downloads'>{items}</div>"
