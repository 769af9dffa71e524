"""WaterfallExplorer: an interactive waterfall for JupyterLab and Voila.

The kernel holds the data; the browser only ever receives an image at screen resolution.
Every pan or zoom (bokeh ``RangesUpdate``) re-reads just the visible window through
``Observation.read(t0, t1, c0, c1)``, reduces it with a max-preserving decimation and sends
the new image, so a 2^20-channel coarse channel stays fluid and a one-channel signal stays
visible at any zoom. The file is never loaded: a window of more than ``OVERVIEW_SAMPLES``
samples (a long observation zoomed out) is read every k-th spectrum, all channels of each,
so no render reads more than 256 MiB whatever the file's size.
"""
from __future__ import annotations

import html
import math
from typing import Any

import ipywidgets as w
import numpy as np
from bokeh.events import RangesUpdate
from jupyter_bokeh import BokehModel

from mitraseti.taxonomy import LABELS
from mitraseti.widgets.decimate import decimate, decimated_shape, scale_image
from mitraseti.widgets.hits import colour_of, load_hits, normalise_hits
from mitraseti.widgets.plots import HIT_COLUMNS, ExplorerPlots, empty_image_data
from mitraseti.widgets.source import DisplayView, as_observation
from mitraseti.widgets.stamps import Stamp, dedrifted_window, hit_stamp
from mitraseti.widgets.tables import candidates_html

SCALES = [("linear", "linear"), ("log", "log"), ("clip 1-99 %", "percentile")]
_BOKEHJS_LOADED = False


def load_bokehjs(force: bool = False) -> bool:
    """Put BokehJS into the notebook page (inline: works offline), once per kernel.

    jupyter_bokeh's widget needs it, in JupyterLab and in Voila alike. It must run while a
    cell executes (its output carries the script); WaterfallExplorer calls it when built,
    and the dashboard calls it up front because its explorers are built in callbacks.
    Returns True when the script was sent."""
    global _BOKEHJS_LOADED
    if _BOKEHJS_LOADED and not force:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    if get_ipython() is None:
        return False
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    output_notebook(INLINE, hide_banner=True)
    _BOKEHJS_LOADED = True
    return True
READ_BUDGET = 1 << 24      # samples read at once (64 MiB of float32); larger windows stream
OVERVIEW_SAMPLES = 1 << 26  # most samples one render reads (256 MiB); beyond: every k-th spectrum


class WaterfallExplorer(w.VBox):
    """Explore one observation and its hits.

    data: a file path (.fil / .h5), an ``Observation``, a ``(header, array)`` pair or a
        ``SyntheticObservation``.
    results: optional results.json path / dict, ``PipelineResult`` or list of hits.
    hits: explicit hits (``Hit`` objects or dicts); overrides ``results``.
    width, height: main plot size in pixels (the image is decimated to it).
    max_drift: range of the de-drift slider, Hz/s.
    """

    def __init__(self, data: Any, results: Any = None, *, hits: Any = None,
                 coarse_channel: int = 0, width: int = 900, height: int = 360,
                 scale: str = "percentile", time_reduce: str = "max",
                 max_drift: float = 4.0, **kwargs):
        load_bokehjs()
        self.obs, self._owns_obs = as_observation(data)
        self.view = DisplayView(self.obs)
        self.hits: list[dict] = normalise_hits(hits) if hits is not None else load_hits(results)
        self.screen = (int(height), int(width))      # (rows, columns) of the image budget
        self.coarse = int(coarse_channel)
        self.scale = scale
        self.time_reduce = time_reduce
        self.dedrift = 0.0
        self.selected_hit: dict | None = None
        self.stamp: Stamp | None = None
        self.window: dict = {}
        self.plots = ExplorerPlots(width=width, height=height)
        self.plots.figure.on_event(RangesUpdate, self._on_ranges_update)
        self.plots.hits_source.selected.on_change("indices", self._on_selection)
        self._build_controls(max_drift)
        self.set_coarse_channel(self.coarse)
        # built after the first render: the browser's first view comes from this bundle, and
        # patches sent before a view exists would be lost
        self.bokeh = BokehModel(self.plots.layout)
        super().__init__([self.controls, self.bokeh, self.status, self.hit_info,
                          self.candidates], **kwargs)
        self.add_class("mitraseti-explorer")

    # ---- controls -----------------------------------------------------------------
    def _build_controls(self, max_drift: float) -> None:
        n = self.view.n_coarse_channels
        if n <= 256:
            options = [(f"{i}: {self.view.f_lo_mhz(i):.6f} MHz", i) for i in range(n)]
            self.coarse_control = w.Dropdown(options=options, value=self.coarse,
                                             description="coarse ch.")
        else:
            self.coarse_control = w.BoundedIntText(value=self.coarse, min=0, max=n - 1,
                                                   description="coarse ch.")
        self.scale_control = w.ToggleButtons(options=SCALES, value=self.scale,
                                             description="colour")
        self.time_control = w.ToggleButtons(options=["max", "mean"], value=self.time_reduce,
                                            description="time blocks")
        r = self.view.header.drift_resolution
        step = float(f"{r:.2g}") if r > 0 else 0.01
        self.dedrift_control = w.FloatSlider(value=0.0, min=-abs(max_drift),
                                             max=abs(max_drift), step=step,
                                             readout_format=".4f", continuous_update=False,
                                             description="de-drift Hz/s",
                                             layout=w.Layout(width="420px"))
        self.reset_button = w.Button(description="reset view", icon="refresh")
        self.status = w.HTML()
        self.status.add_class("explorer-status")
        self.hit_info = w.HTML("<i>click a hit to see its stamp and class probabilities</i>")
        self.candidates = w.HTML()
        self.candidates.add_class("explorer-candidates")
        self.coarse_control.observe(lambda c: self.set_coarse_channel(c["new"]), "value")
        self.scale_control.observe(lambda c: self.set_scale(c["new"]), "value")
        self.time_control.observe(lambda c: self.set_time_reduce(c["new"]), "value")
        self.dedrift_control.observe(lambda c: self.set_dedrift(c["new"]), "value")
        self.reset_button.on_click(lambda _b: self.reset_view())
        self.controls = w.VBox([
            w.HBox([self.coarse_control, self.reset_button]),
            w.HBox([self.scale_control]), w.HBox([self.time_control]),
            self.dedrift_control])

    # ---- public actions -----------------------------------------------------------
    def set_coarse_channel(self, cc: int) -> None:
        """Show coarse channel ``cc`` (whole band, all spectra) and its hits."""
        if not 0 <= int(cc) < self.view.n_coarse_channels:
            raise ValueError(f"coarse channel must be in 0..{self.view.n_coarse_channels - 1},"
                             f" got {cc}")
        self.coarse = int(cc)
        if self.coarse_control.value != self.coarse:
            self.coarse_control.value = self.coarse
        self.plots.figure.title.text = (
            f"{self.view.header.source_name}: coarse channel {self.coarse}")
        self._update_hits()
        self.reset_view()

    def reset_view(self) -> None:
        """Zoom out to the whole coarse channel."""
        lo, hi, t_end = self._extent()
        xr, yr = self.plots.x_range, self.plots.y_range
        xr.update(start=lo, end=hi, bounds=(lo, hi))
        yr.update(start=0.0, end=t_end, bounds=(0.0, t_end))
        self.render()

    def set_view(self, f0_mhz: float, f1_mhz: float, t0_s: float | None = None,
                 t1_s: float | None = None) -> None:
        """Zoom to a frequency (MHz) and optionally a time (s) window, as a pan would."""
        xr, yr = self.plots.x_range, self.plots.y_range
        xr.update(start=float(f0_mhz), end=float(f1_mhz))
        if t0_s is not None and t1_s is not None:
            yr.update(start=float(t0_s), end=float(t1_s))
        self.render()

    def set_scale(self, mode: str) -> None:
        self.scale = mode
        if self.scale_control.value != mode:
            self.scale_control.value = mode
        self.render()

    def set_time_reduce(self, how: str) -> None:
        self.time_reduce = how
        if self.time_control.value != how:
            self.time_control.value = how
        self.render()

    def set_dedrift(self, drift: float) -> None:
        """Shift each spectrum by ``-drift * t / df`` channels (drift in Hz/s)."""
        self.dedrift = float(drift)
        if abs(self.dedrift_control.value - self.dedrift) > 1e-12:
            self.dedrift_control.value = self.dedrift
        self._update_hits()
        self.render()

    def select_hit(self, index: int | None) -> None:
        """Select hit ``index`` (into ``self.hits``); computes its stamps and probabilities."""
        if index is None:
            self.selected_hit, self.stamp = None, None
            self.plots.raw_source.data = empty_image_data()
            self.plots.ded_source.data = empty_image_data()
            self.plots.drift_line.data = {"x": [], "y": []}
            return
        hit = self.hits[int(index)]
        self.selected_hit = hit
        self.stamp = hit_stamp(self.view, hit)
        self._show_stamp(self.stamp, hit)

    # ---- rendering ----------------------------------------------------------------
    def _extent(self) -> tuple[float, float, float]:
        lo = self.view.f_lo_mhz(self.coarse) - 0.5 * self.view.df_mhz
        return lo, lo + self.view.nfpc * self.view.df_mhz, self.view.n_spectra * self.view.dt_s

    def visible_window(self) -> tuple[int, int, int, int]:
        """(t0, t1, u0, u1): spectra and display columns covered by the current ranges."""
        v = self.view
        f_lo = v.f_lo_mhz(self.coarse)
        xs, xe = sorted((self.plots.x_range.start, self.plots.x_range.end))
        ys, ye = sorted((self.plots.y_range.start, self.plots.y_range.end))
        u0 = max(0, math.floor((xs - f_lo) / v.df_mhz + 0.5))
        u1 = min(v.nfpc, math.ceil((xe - f_lo) / v.df_mhz + 0.5))
        t0 = max(0, math.floor(ys / v.dt_s + 1e-9))
        t1 = min(v.n_spectra, math.ceil(ye / v.dt_s - 1e-9))
        return t0, max(t1, t0 + 1), u0, max(u1, u0 + 1)

    def spectra_step(self, t0: int, t1: int, u0: int, u1: int) -> int:
        """1, or k when the window is read every k-th spectrum (over OVERVIEW_SAMPLES)."""
        return max(1, math.ceil((t1 - t0) * (u1 - u0) / OVERVIEW_SAMPLES))

    def compute_image(self, t0: int, t1: int, u0: int, u1: int) -> np.ndarray:
        """Decimated (de-drifted) image of a window, streaming long windows in time blocks;
        a window over OVERVIEW_SAMPLES samples is read every k-th spectrum."""
        step = self.spectra_step(t0, t1, u0, u1)
        if step > 1:
            rows = [dedrifted_window(self.view, self.coarse, t, t + 1, u0, u1, self.dedrift)
                    for t in range(t0, t1, step)]
            return decimate(np.concatenate(rows, axis=0), self.screen, self.time_reduce)
        rows, cols = decimated_shape((t1 - t0, u1 - u0), self.screen)
        tf = math.ceil((t1 - t0) / rows)
        chunk = max(tf, (READ_BUDGET // max(u1 - u0, 1)) // tf * tf)
        parts = []
        for a in range(t0, t1, chunk):
            b = min(t1, a + chunk)
            block = dedrifted_window(self.view, self.coarse, a, b, u0, u1, self.dedrift)
            parts.append(decimate(block, (math.ceil((b - a) / tf), cols), self.time_reduce))
        return np.concatenate(parts, axis=0)

    def render(self) -> None:
        """Re-read the visible window and send a screen-resolution image to the browser."""
        v = self.view
        t0, t1, u0, u1 = self.visible_window()
        img = self.compute_image(t0, t1, u0, u1)
        shown, low, high = scale_image(img, self.scale)
        f_left = v.f_lo_mhz(self.coarse) + (u0 - 0.5) * v.df_mhz
        self.plots.mapper.update(low=low, high=high)
        self.plots.image_source.data = {
            "image": [shown], "x": [f_left], "y": [t0 * v.dt_s],
            "dw": [(u1 - u0) * v.df_mhz], "dh": [(t1 - t0) * v.dt_s]}
        self.image = img
        per_pixel = math.ceil((u1 - u0) / img.shape[1])
        step = self.spectra_step(t0, t1, u0, u1)
        self.window = {"t0": t0, "t1": t1, "u0": u0, "u1": u1, "shape": img.shape,
                       "channels_per_pixel": per_pixel, "spectra_step": step}
        sampled = f", every {step}th spectrum (overview)" if step > 1 else ""
        self.status.value = (
            f"<small class='explorer-window' data-u0='{u0}' data-u1='{u1}' "
            f"data-channels-per-pixel='{per_pixel}' data-spectra-step='{step}'>"
            f"showing spectra {t0}-{t1 - 1} x channels {u0}-{u1 - 1} of coarse "
            f"channel {self.coarse} ({u1 - u0} channels, {v.df_mhz * 1e6:.3f} Hz each) as "
            f"{img.shape[1]} x {img.shape[0]} pixels (frequency blocks of {per_pixel} "
            f"channels, max{sampled}); de-drift {self.dedrift:+.4f} Hz/s</small>")

    def _on_ranges_update(self, event: RangesUpdate) -> None:
        """Bokeh pan/zoom callback: adopt the event's ranges and re-render."""
        xr, yr = self.plots.x_range, self.plots.y_range
        if event.x0 is not None and event.x1 is not None:
            xr.update(start=event.x0, end=event.x1)
        if event.y0 is not None and event.y1 is not None:
            yr.update(start=event.y0, end=event.y1)
        self.render()

    # ---- hits ---------------------------------------------------------------------
    def _hits_in_view(self) -> list[int]:
        v = self.view
        lo, hi, _ = self._extent()
        out = []
        for i, h in enumerate(self.hits):
            cc = h.get("coarse_channel")
            f = h["frequency_hz"] / 1e6
            if (cc == self.coarse if cc is not None else lo <= f <= hi) and v.nfpc:
                out.append(i)
        return out

    def _update_hits(self) -> None:
        t_end = self.view.n_spectra * self.view.dt_s
        cols: dict[str, list] = {k: [] for k in HIT_COLUMNS}
        for i in self._hits_in_view():
            h = self.hits[i]
            f0 = h["frequency_hz"] / 1e6
            f1 = f0 + (h["drift_rate"] - self.dedrift) * t_end / 1e6
            for k, val in (("index", i), ("frequency_mhz", f0), ("drift_rate", h["drift_rate"]),
                           ("snr", h["snr"]), ("classification", h["classification"] or "?"),
                           ("confidence", h["confidence"]),
                           ("colour", colour_of(h["classification"])), ("x0", f0), ("y0", 0.0),
                           ("x1", f1), ("y1", t_end), ("xm", (f0 + f1) / 2),
                           ("ym", t_end / 2)):
                cols[k].append(val)
        self.plots.hits_source.data = cols
        shown = sorted((self.hits[i] for i in self._hits_in_view()),
                       key=lambda h: (-h["interestingness"], -h["snr"]))
        self.candidates.value = (f"<b>signals in coarse channel {self.coarse}</b>"
                                 + candidates_html(shown))

    def _on_selection(self, _attr: str, _old: list, new: list) -> None:
        """Tap on a hit marker (selection of the hits source) -> show that hit."""
        if not new:
            self.select_hit(None)
            return
        self.select_hit(self.plots.hits_source.data["index"][new[0]])

    def _show_stamp(self, st: Stamp, hit: dict) -> None:
        p = self.plots
        shape = (self.screen[0], 300)
        raw = decimate(st.raw, shape)
        ded = decimate(st.dedrifted, shape)
        _, low, high = scale_image(np.concatenate([raw.ravel(), ded.ravel()]), "percentile")
        p.stamp_mapper.update(low=low, high=high)
        geom = {"x": [st.f_lo_mhz], "y": [0.0], "dw": [st.width * st.df_mhz],
                "dh": [st.t_span_s]}
        p.raw_source.data = {"image": [raw], **geom}
        p.ded_source.data = {"image": [ded], **geom}
        p.drift_line.data = {"x": list(st.drift_line_mhz), "y": [0.0, st.t_span_s]}
        probs = st.probabilities
        p.prob_source.data = {"label": list(LABELS),
                              "p": [float(probs.get(k, 0.0)) for k in LABELS],
                              "colour": [colour_of(k) for k in LABELS]}
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td>{html.escape(_fmt(hit.get(k)))}</td></tr>"
                       for k in ("frequency_hz", "drift_rate", "snr", "classification",
                                 "confidence", "interestingness", "bandwidth_hz",
                                 "rfi_source", "source"))
        self.hit_info.value = f"<b>selected hit</b><table>{rows}</table>"

    def close(self) -> None:
        if getattr(self, "_owns_obs", False):
            self._owns_obs = False
            self.obs.close()
        super().close()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6f}" if abs(v) >= 1e6 else f"{v:.4g}"
    return "" if v is None else str(v)
