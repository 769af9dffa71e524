"""Pictures: the waterfall with hits, its thumbnail, candidate stamps, and summary plots.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot state, safe in
threads and servers). The ``plot_*`` functions draw onto a given Axes so the pipeline
notebook can show the same figures inline.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter

from mitraseti.export.atomic import atomic_path
from mitraseti.signals.taxonomy import LABELS

THUMB_WIDTH_PX = 320
# One colour per label (tab10), grey for hits that were not classified.
CLASS_COLOURS = dict(zip(LABELS, ["#7f7f7f", "#ff7f0e", "#8c564b", "#d62728", "#9467bd",
                                  "#17becf", "#bcbd22", "#1f77b4", "#2ca02c"]))
UNCLASSIFIED_COLOUR = "#e377c2"


def class_colour(label: str) -> str:
    return CLASS_COLOURS.get(label, UNCLASSIFIED_COLOUR)


def _new_figure(width_in: float, height_in: float, dpi: int = 100) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path, **kwargs) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", **kwargs)
    return Path(path)


def _mhz_formatter(span_mhz: float) -> FormatStrFormatter:
    decimals = min(6, max(1, math.ceil(-math.log10(max(span_mhz, 1e-9) / 5.0)) + 1))
    return FormatStrFormatter(f"%.{decimals}f")


def _colour_limits(img: np.ndarray) -> tuple[float, float]:
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [5.0, 99.9])
    return float(lo), float(max(hi, lo + 1e-6))


def plot_waterfall(ax, result, hits=None, legend: bool = True) -> None:
    """Draw the decimated waterfall (frequency in MHz across, time in s up) and mark
    ``hits`` (default: all filtered hits) along their drift paths, coloured by class."""
    wf = result.waterfall
    hits = result.filtered_hits if hits is None else hits
    if wf is None:
        ax.text(0.5, 0.5, "no waterfall data", ha="center", va="center",
                transform=ax.transAxes)
        return
    img, (f_lo, f_hi) = wf.ascending()
    t0, t1 = wf.time_extent_s
    vmin, vmax = _colour_limits(img)
    ax.imshow(img, aspect="auto", origin="lower", extent=(f_lo, f_hi, t0, t1), cmap="gray",
              vmin=vmin, vmax=vmax, interpolation="nearest")
    by_label: dict[str, list] = {}
    dt = result.header.dt_s
    for h in hits:  # through the centres of the first and last spectra
        f0 = h.frequency_hz / 1e6
        f1 = (h.frequency_hz + h.drift_rate * (t1 - dt)) / 1e6
        by_label.setdefault(h.classification or "UNCLASSIFIED", []).append(
            ((f0, t0 + 0.5 * dt), (f1, t1 - 0.5 * dt)))
    for label, segments in sorted(by_label.items()):
        colour = class_colour(label)
        ax.add_collection(LineCollection(segments, colors=colour, linewidths=0.8, alpha=0.6,
                                         linestyles="dashed"))
        starts = np.array([s[0] for s in segments])
        ax.scatter(starts[:, 0], np.full(len(starts), t0), marker="^", s=30, color=colour, clip_on=False,
                   zorder=3, label=f"{label} ({len(segments)})")
    ax.set_xlim(f_lo, f_hi)
    ax.set_ylim(t0, t1)
    ax.xaxis.set_major_formatter(_mhz_formatter(f_hi - f_lo))
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


def write_waterfall(result, path: str | Path) -> Path:
    """``waterfall.png``: the whole observation with hits, 1800 x 900 px."""
    fig = _new_figure(12, 6, dpi=150)
    ax = fig.add_subplot()
    plot_waterfall(ax, result)
    ax.set_title(f"{result.source_name}  ({result.file_name})")
    fig.tight_layout()
    return _save(fig, Path(path))


def write_thumbnail(result, path: str | Path) -> Path:
    """``waterfall_thumb.png``: the waterfall alone, exactly THUMB_WIDTH_PX x 160 px."""
    fig = _new_figure(THUMB_WIDTH_PX / 100, 1.6, dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    plot_waterfall(ax, result, legend=False)
    return _save(fig, Path(path))


def _plot_stamp_pair(fig: Figure, stamp, hit, title: str) -> None:
    """Raw window (frequency offset from the hit at t = 0, Hz) and de-drifted window."""
    ax_raw, ax_dd = fig.subplots(1, 2)
    n_t = stamp.raw.shape[0]
    dt = stamp.dt_s
    t1 = n_t * dt
    f_a, f_b = (np.array(stamp.raw_freq_edges_mhz) * 1e6 - hit.frequency_hz)
    raw = stamp.raw if f_a <= f_b else stamp.raw[:, ::-1]
    vmin, vmax = _colour_limits(raw)
    ax_raw.imshow(raw, aspect="auto", origin="lower", extent=(min(f_a, f_b), max(f_a, f_b),
                  0, t1), vmin=vmin, vmax=vmax, interpolation="nearest")
    # the path through the centres of the spectra (spectrum i spans [i dt, (i + 1) dt])
    ax_raw.plot([0.0, hit.drift_rate * (n_t - 1) * dt], [0.5 * dt, t1 - 0.5 * dt],
                color="w", linestyle=":", linewidth=1)
    ax_raw.set_xlabel(f"frequency - {hit.frequency_hz / 1e6:.6f} MHz (Hz)")
    ax_raw.set_ylabel("time (s)")
    ax_raw.set_title("raw", fontsize="small")
    half = (stamp.dedrifted.shape[1] // 2 + 0.5) * stamp.df_hz
    dd = stamp.dedrifted
    vmin, vmax = _colour_limits(dd)
    ax_dd.imshow(dd, aspect="auto", origin="lower", extent=(-half, half, 0, t1), vmin=vmin,
                 vmax=vmax, interpolation="nearest")
    ax_dd.set_xlabel("offset from the drift path (Hz)")
    ax_dd.set_title("de-drifted", fontsize="small")
    fig.suptitle(title, fontsize="medium")


def write_stamps(result, out_dir: str | Path) -> list[Path]:
    """``stamps/cand_XX.png`` for each top candidate with a stamp (XX = rank, 00 = best)."""
    out = Path(out_dir)
    paths = []
    for rank, hit in enumerate(result.top_candidates):
        stamp = result.stamp_for(hit)
        if stamp is None:
            continue
        fig = _new_figure(9, 3.6)
        title = (f"#{rank}  {hit.frequency_hz / 1e6:.6f} MHz  {hit.drift_rate:+.4f} Hz/s  "
                 f"S/N {hit.snr:.1f}  {hit.classification}  ({hit.interestingness:.2f})")
        _plot_stamp_pair(fig, stamp, hit, title)
        fig.tight_layout()
        paths.append(_save(fig, out / f"cand_{rank:02d}.png"))
    return paths
