"""Pictures: the waterfall with hits, its thumbnail, candidate stamps, and summary plots.

The exported PNGs are rendered straight from the arrays (:mod:`mitraseti.export.raster`):
colormap to RGB, nearest-neighbour or MAX resampling, lines drawn pixel-wise, axes text
drawn with Pillow. No matplotlib figure is built, so an export costs milliseconds, not the
~0.1 s of a figure (plus ~0.5 s to import the figure machinery). The ``plot_*`` functions
draw onto a given matplotlib Axes so the pipeline notebook can show the same views inline;
they import matplotlib only when called.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mitraseti.export import axes, raster
from mitraseti.export.stamp_png import write_stamps
from mitraseti.taxonomy import LABELS

__all__ = ["CLASS_COLOURS", "THUMB_WIDTH_PX", "class_colour", "hit_paths", "plot_class_counts",
           "plot_snr_histogram", "plot_waterfall", "waterfall_rgb", "write_stamps",
           "write_thumbnail", "write_waterfall"]

THUMB_WIDTH_PX = 320
# One colour per label (tab10), grey for hits that were not classified.
CLASS_COLOURS = dict(zip(LABELS, ["#7f7f7f", "#ff7f0e", "#8c564b", "#d62728", "#9467bd",
                                  "#17becf", "#bcbd22", "#1f77b4", "#2ca02c"]))
UNCLASSIFIED_COLOUR = "#e377c2"


def class_colour(label: str) -> str:
    return CLASS_COLOURS.get(label, UNCLASSIFIED_COLOUR)


def mhz_decimals(span_mhz: float) -> int:
    """Decimals of the MHz tick labels of an axis spanning ``span_mhz``."""
    return min(6, max(1, math.ceil(-math.log10(max(span_mhz, 1e-9) / 5.0)) + 1))


def hit_paths(result, hits, t_extent: tuple[float, float]) -> dict[str, list]:
    """label -> [((f_start, t_start), (f_end, t_end)), ...] in (MHz, s), sorted by label: the
    drift path of each hit through the centres of the first and last spectra."""
    t0, t1 = t_extent
    dt = result.header.dt_s
    by_label: dict[str, list] = {}
    for h in hits:
        f0 = h.frequency_hz / 1e6
        f1 = (h.frequency_hz + h.drift_rate * (t1 - dt)) / 1e6
        by_label.setdefault(h.classification or "UNCLASSIFIED", []).append(
            ((f0, t0 + 0.5 * dt), (f1, t1 - 0.5 * dt)))
    return dict(sorted(by_label.items()))


def plot_waterfall(ax, result, hits=None, legend: bool = True) -> None:
    """Draw the decimated waterfall (frequency in MHz across, time in s up) and mark
    ``hits`` (default: all filtered hits) along their drift paths, coloured by class."""
    wf = result.waterfall
    hits = result.filtered_hits if hits is None else hits
    if wf is None:
        ax.text(0.5, 0.5, "no waterfall data", ha="center", va="center",
                transform=ax.transAxes)
        return
    from matplotlib.collections import LineCollection
    from matplotlib.ticker import FormatStrFormatter

    img, (f_lo, f_hi) = wf.ascending()
    t0, t1 = wf.time_extent_s
    vmin, vmax = raster.colour_limits(img)
    ax.imshow(img, aspect="auto", origin="lower", extent=(f_lo, f_hi, t0, t1), cmap="gray",
              vmin=vmin, vmax=vmax, interpolation="nearest")
    by_label = hit_paths(result, hits, (t0, t1))
    for label, segments in by_label.items():
        colour = class_colour(label)
        ax.add_collection(LineCollection(segments, colors=colour, linewidths=0.8, alpha=0.6,
                                         linestyles="dashed"))
        starts = np.array([s[0] for s in segments])
        ax.scatter(starts[:, 0], np.full(len(starts), t0), marker="^", s=30, color=colour,
                   clip_on=False, zorder=3, label=f"{label} ({len(segments)})")
    ax.set_xlim(f_lo, f_hi)
    ax.set_ylim(t0, t1)
    ax.xaxis.set_major_formatter(FormatStrFormatter(f"%.{mhz_decimals(f_hi - f_lo)}f"))
    ax.set_xlabel("frequency (MHz)")
    ax.set_ylabel("time (s)")
    if legend and by_label:
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)


def plot_snr_histogram(ax, result) -> None:
    """Histogram of S/N of raw and filtered hits (log S/N bins)."""
    raw = np.array([h.snr for h in result.raw_hits], dtype=float)
    filt = np.array([h.snr for h in result.filtered_hits], dtype=float)
    both = np.concatenate([raw, filt])
    both = both[np.isfinite(both) & (both > 0)]
    if both.size == 0:
        ax.text(0.5, 0.5, "no hits", ha="center", va="center", transform=ax.transAxes)
    else:
        bins = np.geomspace(both.min(), both.max() * 1.0001 + 1e-9, 30)
        ax.hist(raw[raw > 0], bins=bins, alpha=0.6, label=f"raw ({raw.size})")
        ax.hist(filt[filt > 0], bins=bins, alpha=0.6, label=f"filtered ({filt.size})")
        ax.set_xscale("log")
        ax.legend()
    ax.axvline(result.params.snr, color="k", linestyle=":", label="threshold")
    ax.set_xlabel("S/N")
    ax.set_ylabel("hits")


def plot_class_counts(ax, result) -> None:
    """Bar chart of filtered hits per label."""
    counts = result.class_counts()
    labels = list(counts) or ["(none)"]
    values = [counts.get(lb, 0) for lb in labels]
    ax.barh(labels, values, color=[class_colour(lb) for lb in labels])
    ax.set_xlabel("filtered hits")




# ---- exported PNGs, rendered from the arrays ------------------------------------------------
WATERFALL_PX = (1800, 900)                 # width, height
PLOT_BOX = (112, 56, 1736, 806)            # plot area in waterfall.png: left, top, right, bottom
THUMB_PX = (THUMB_WIDTH_PX, 160)
FONT_PX, TITLE_PX, LEGEND_PX = 21, 25, 17  # 10, 12 and 8 pt at 150 dpi
TICK_PX, LINE_PX, MARKER_PX = 7, 2, 15
DASH_PX = (6, 3)


def waterfall_rgb(waterfall, height: int, width: int) -> np.ndarray:
    """The waterfall as uint8 RGB (height, width, 3): frequency increasing to the right, time
    upwards; columns merged with MAX when there are more than ``width``; gray colormap
    between the PERCENTILES of the pixels shown."""
    img, _ = waterfall.ascending()
    shown = raster.shrink_columns(img, width)
    vmin, vmax = raster.colour_limits(shown)
    rgb = raster.to_rgb(shown, "gray", vmin, vmax)[::-1]
    return raster.upsample(rgb, height, width)


def _waterfall_canvas(result, size, box, line_px: int):
    """(uint8 RGB canvas, label -> paths, markers): the waterfall in ``box`` = (left, top,
    right, bottom) of a white ``size`` = (width, height) canvas, each hit's drift path dashed
    in its class colour (60 % opaque); ``markers``: (x, colour) of each path's start."""
    left, top, right, bottom = box
    canvas = np.full((size[1], size[0], 3), 255, dtype=np.uint8)
    wf = result.waterfall
    if wf is None:
        return canvas, {}, []
    panel = canvas[top:bottom, left:right]
    panel[...] = waterfall_rgb(wf, bottom - top, right - left)
    (f_lo, f_hi), (t0, t1) = wf.ascending()[1], wf.time_extent_s
    by_label = hit_paths(result, result.filtered_hits, (t0, t1))

    def px(f, t):
        return (f - f_lo) / (f_hi - f_lo) * (right - left), (t1 - t) / (t1 - t0) * (bottom - top)

    markers = []
    for label, segments in by_label.items():
        colour = raster.hex_rgb(class_colour(label))
        for a, b in segments:
            raster.draw_line(panel, px(*a), px(*b), colour, line_px, DASH_PX, alpha=0.6)
            markers.append((left + px(*a)[0], colour))
    return canvas, by_label, markers


def _draw_axes(canvas, f_range, t_range, box) -> None:
    """Frame, ticks and tick labels, axis labels around the waterfall panel ``box``."""
    left, top, right, bottom = box
    decimals = mhz_decimals(f_range[1] - f_range[0])
    axes.draw_axes(canvas, box, f_range, t_range, font_px=FONT_PX, line_px=LINE_PX,
                   tick_px=TICK_PX, x_format=lambda f: f"{f:.{decimals}f}",
                   y_format=lambda t: f"{t:g}")
    raster.text(canvas, ((left + right) / 2, bottom + TICK_PX + 40), "frequency (MHz)",
                FONT_PX, "mt")
    raster.text(canvas, (left - 80, (top + bottom) / 2), "time (s)", FONT_PX, rotated=True)


def _draw_legend(canvas, by_label, box) -> None:
    """Upper-right legend, 80 % opaque: a marker and 'LABEL (count)' per class."""
    _, top, right, _ = box
    rows = [(raster.hex_rgb(class_colour(lb)), f"{lb} ({len(s)})") for lb, s in by_label.items()]
    width = max(raster.text_width(label, LEGEND_PX) for _, label in rows) + 3 * LEGEND_PX
    height = len(rows) * (LEGEND_PX + 8) + 8
    x0, y0 = right - 10 - width, top + 10
    raster.fill_rect(canvas, (x0, y0, x0 + width, y0 + height), raster.WHITE, alpha=0.8)
    raster.frame(canvas, (x0, y0, x0 + width, y0 + height), (204, 204, 204))
    for k, (colour, label) in enumerate(rows):
        y = y0 + 8 + k * (LEGEND_PX + 8) + LEGEND_PX / 2
        raster.triangle(canvas, x0 + LEGEND_PX, y, MARKER_PX, colour)
        raster.text(canvas, (x0 + 2 * LEGEND_PX, y), label, LEGEND_PX, "lm")


def write_waterfall(result, path: str | Path) -> Path:
    """``waterfall.png``: the whole observation with hits, 1800 x 900 px (frequency in MHz
    across, time in s up; each hit's drift path dashed and marked at t = 0 by class)."""
    canvas, by_label, markers = _waterfall_canvas(result, WATERFALL_PX, PLOT_BOX, LINE_PX)
    title = f"{result.source_name}  ({result.file_name})"
    raster.text(canvas, (WATERFALL_PX[0] / 2, PLOT_BOX[1] / 2), title, TITLE_PX, "mm")
    wf = result.waterfall
    if wf is None:
        raster.text(canvas, (WATERFALL_PX[0] / 2, WATERFALL_PX[1] / 2), "no waterfall data",
                    FONT_PX, "mm")
    else:
        _draw_axes(canvas, wf.ascending()[1], wf.time_extent_s, PLOT_BOX)
        for x, colour in markers:    # on top of the frame, centred on the t = 0 edge
            raster.triangle(canvas, x, PLOT_BOX[3], MARKER_PX, colour)
        if by_label:
            _draw_legend(canvas, by_label, PLOT_BOX)
    return raster.save_png(canvas, path, {"Title": title, "Software": "mitraseti"})


def write_thumbnail(result, path: str | Path) -> Path:
    """``waterfall_thumb.png``: the waterfall alone, exactly THUMB_WIDTH_PX x 160 px."""
    canvas, _, markers = _waterfall_canvas(result, THUMB_PX, (0, 0) + THUMB_PX, 1)
    for x, colour in markers:
        raster.triangle(canvas, x, THUMB_PX[1], 10, colour)
    return raster.save_png(canvas, path, {"Title": result.source_name, "Software": "mitraseti"})
