"""One PNG per cadence event: the waterfalls of every file stacked in time order, each
centred on the event's drift-projected frequency, with the drift line drawn across them.

x axis (shared): frequency offset (Hz) from the event's frequency at t = 0 of the first file;
y axis: seconds since the start of the first file. Each window is drawn in viridis between
its own minimum and maximum, the drift path dashed in red. Rendered straight from the arrays
(:mod:`mitraseti.export.raster`, no matplotlib figure), a few ms per event. The PNG's text
chunks give ``x_range_hz`` (low,high) and ``panels_px`` (left,top,right,bottom per file,
separated by ';').
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

MIN_HALF_CHANNELS = 48
WIDTH_PX, PANEL_PX = 480, 112          # picture width; panel height (7 px per spectrum at 16)
LEFT, RIGHT, TOP, GAP, BOTTOM = 72, 16, 36, 30, 46
TITLE_PX, LABEL_PX, TICK_PX = 12, 10, 9
DRIFT_RGB, DASH_PX = (255, 0, 0), (5, 3)


def _window(file, c0: int, c1: int) -> np.ndarray | None:
    """(n_spectra, c1 - c0) block of one file, or None when its data is unavailable."""
    h = file.header
    c0, c1 = max(0, c0), min(int(h.nchans), c1)
    if c1 <= c0:
        return None
    if file.data is not None:
        return np.asarray(file.data[:, c0:c1], dtype=np.float32)
    if file.path is not None:
        from ..io import open_observation
        with open_observation(file.path) as obs:
            return obs.read(0, None, c0, c1)
    return None


def _panels(event, files) -> tuple[float, list[dict]]:
    """(f0: the event's frequency at the start of file 0, Hz; one dict per file with its
    name, ON/OFF tag, time span (s since file 0 starts), window image with frequency
    increasing along columns (or None) and its edges as offsets from f0, Hz)."""
    h0 = files[0].header
    hit = event.hit
    t_ref = float(files[event.file_index].header.tstart)
    t_first = float(h0.tstart)
    f0 = hit.frequency_hz + hit.drift_rate * (t_first - t_ref) * 86400.0
    df = h0.df_hz
    half = int(max(MIN_HALF_CHANNELS, abs(hit.drift_rate) * h0.obs_length_s / df * 1.5,
                   (hit.bandwidth_hz or 0.0) / df))
    panels = []
    for k, f in enumerate(files):
        hk = f.header
        foff_hz = hk.foff * 1e6
        t_start = (float(hk.tstart) - t_first) * 86400.0
        f_mid = f0 + hit.drift_rate * (t_start + 0.5 * hk.obs_length_s)
        c_mid = int(round((f_mid / 1e6 - hk.fch1) / hk.foff))
        block = _window(f, c_mid - half, c_mid + half)
        panel = dict(name=f.name, tag="ON" if k % 2 == 0 else "OFF",
                     t=(t_start, t_start + hk.obs_length_s), img=None, f=(0.0, 0.0))
        if block is not None and block.size:
            f_lo = (hk.fch1 * 1e6 + (max(0, c_mid - half) - 0.5) * foff_hz) - f0
            f_hi = f_lo + block.shape[1] * foff_hz
            panel["img"] = block if foff_hz > 0 else block[:, ::-1]
            panel["f"] = (min(f_lo, f_hi), max(f_lo, f_hi))
        panels.append(panel)
    return f0, panels


def _draw_panel(canvas, box, panel, x_range, drift_rate: float) -> None:
    """The window (placed at its frequencies on the shared axis) and the drift path."""
    from mitraseti.export import raster

    left, top, right, bottom = box
    x_lo, x_hi = x_range
    panel_view = canvas[top:bottom, left:right]
    img = panel["img"]
    if img is None:
        raster.text(canvas, ((left + right) / 2, (top + bottom) / 2), "data not available",
                    LABEL_PX, "mm")
    else:
        (f_lo, f_hi), width = panel["f"], right - left
        c0 = int(round((f_lo - x_lo) / (x_hi - x_lo) * width))
        c1 = max(c0 + 1, int(round((f_hi - x_lo) / (x_hi - x_lo) * width)))
        shown = raster.shrink_columns(img, c1 - c0)
        finite = shown[np.isfinite(shown)]
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0, 1)
        rgb = raster.to_rgb(shown, "viridis", vmin, vmax)[::-1]
        panel_view[:, c0:c1] = raster.upsample(rgb, bottom - top, c1 - c0)
    t_a, t_b = panel["t"]

    def px(t):
        return ((drift_rate * t - x_lo) / (x_hi - x_lo) * (right - left),
                (t_b - t) / (t_b - t_a) * (bottom - top))

    raster.draw_line(panel_view, px(t_a), px(t_b), DRIFT_RGB, 1, DASH_PX, alpha=0.6)


def plot_event(event, files, out_path: Path) -> Path:
    """Write the stacked-waterfall PNG of ``event`` to ``out_path``; returns the path."""
    from mitraseti.export import axes, raster

    hit = event.hit
    f0, panels = _panels(event, files)
    spans = [p["f"] for p in panels if p["img"] is not None]
    x_range = ((min(s[0] for s in spans), max(s[1] for s in spans)) if spans
               else (-MIN_HALF_CHANNELS * files[0].header.df_hz,
                     MIN_HALF_CHANNELS * files[0].header.df_hz))
    n = len(panels)
    canvas = np.full((TOP + n * PANEL_PX + (n - 1) * GAP + BOTTOM, WIDTH_PX, 3), 255,
                     dtype=np.uint8)
    boxes = []
    for k, panel in enumerate(panels):
        top = TOP + k * (PANEL_PX + GAP)
        box = (LEFT, top, WIDTH_PX - RIGHT, top + PANEL_PX)
        boxes.append(box)
        _draw_panel(canvas, box, panel, x_range, hit.drift_rate)
        last = k == n - 1
        axes.draw_axes(canvas, box, x_range, panel["t"], font_px=TICK_PX, tick_px=3,
                       x_format=(lambda v: f"{v:g}") if last else None,
                       y_format=lambda v: f"{v:g}", n_x=9, n_y=5)
        raster.text(canvas, (LEFT, top - 4), panel["name"], LABEL_PX, "ld")
        raster.text(canvas, (14, top + PANEL_PX / 2), f"{panel['tag']}   t (s)", LABEL_PX,
                    rotated=True)
    raster.text(canvas, ((LEFT + WIDTH_PX - RIGHT) / 2, canvas.shape[0] - 18),
                f"frequency - {f0 / 1e6:.6f} MHz (Hz)", LABEL_PX, "mm")
    title = (f"event {event.event_id}: {hit.classification}, drift {hit.drift_rate:.4g} "
             f"Hz/s, S/N {hit.snr:.1f}")
    raster.text(canvas, (WIDTH_PX / 2, 6), title, TITLE_PX, "mt")
    metadata = {"Title": title, "Software": "mitraseti",
                "x_range_hz": f"{x_range[0]!r},{x_range[1]!r}",
                "panels_px": ";".join(",".join(map(str, b)) for b in boxes)}
    return raster.save_png(canvas, Path(out_path), metadata)
