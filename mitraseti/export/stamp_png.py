"""Candidate stamp PNGs (``stamps/cand_XX.png``), rendered straight from the stamp arrays.

Each PNG shows, under a title line (rank, frequency, drift, S/N, label, interestingness):

* left, "raw": the data around the drift path, frequency offset from the hit's frequency at
  t = 0 increasing to the right, time upwards, the drift path dotted in white;
* right, "de-drifted": each spectrum shifted so the signal sits in the centre column.

Each panel has its own viridis colour limits (5th and 99.9th percentile of its pixels), is
enlarged with nearest-neighbour pixels to about 384 x 256 px, and is labelled with the
values at its edges. The same facts travel in PNG tEXt chunks (``Title``, ``Description``,
``frequency_hz``, ``drift_rate_hz_s``, ``snr``, ``classification``, ``interestingness``,
``rank``, and ``raw_panel_px`` / ``dedrifted_panel_px`` = left, top, right, bottom pixel
boxes) so scripts can read them without parsing pixels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mitraseti.export import raster

CMAP = "viridis"
PANEL_PX = (384, 256)           # target panel width, height (integer pixel factors)
MAX_PANEL_HEIGHT = 512          # more spectra than this are sampled (nearest) to fit
LEFT, GAP, RIGHT, TOP, BOTTOM = 64, 24, 12, 52, 50
TITLE_PX, LABEL_PX, TICK_PX = 15, 13, 12
DOT_PX = (2, 3)                 # drift path: 2 px on, 3 px off


def panel_size(shape: tuple[int, int]) -> tuple[int, int]:
    """(height, width) in pixels of a panel showing a (rows, cols) array: each data pixel
    an integer number of pixels, about PANEL_PX; never fewer pixels than columns."""
    rows, cols = shape
    fx = max(1, round(PANEL_PX[0] / max(cols, 1)))
    fy = max(1, round(PANEL_PX[1] / max(rows, 1)))
    return min(rows * fy, MAX_PANEL_HEIGHT), cols * fx


def raw_offsets_hz(stamp, hit) -> tuple[float, float]:
    """(low, high) frequency offsets (Hz) of the raw panel's outer edges from the hit's
    frequency at t = 0."""
    f_a, f_b = (np.array(stamp.raw_freq_edges_mhz) * 1e6 - hit.frequency_hz)
    return float(min(f_a, f_b)), float(max(f_a, f_b))


def _panel(out: np.ndarray, img: np.ndarray) -> None:
    """Fill ``out`` (a canvas view) with ``img`` enlarged (row 0 = first spectrum, drawn at
    the bottom)."""
    vmin, vmax = raster.colour_limits(img)
    out[...] = raster.upsample(raster.to_rgb(img, CMAP, vmin, vmax)[::-1], *out.shape[:2])


def _raw_panel(out: np.ndarray, stamp, hit) -> None:
    """Fill ``out`` with the raw panel: frequency increasing to the right, the drift path
    dotted."""
    f_a, f_b = (np.array(stamp.raw_freq_edges_mhz) * 1e6 - hit.frequency_hz)
    raw = stamp.raw if f_a <= f_b else stamp.raw[:, ::-1]
    _panel(out, raw)
    lo, hi = raw_offsets_hz(stamp, hit)
    n_t, cols = raw.shape
    # the path through the centres of the spectra (spectrum i spans rows [i, i + 1])
    f_path = np.array([0.0, hit.drift_rate * (n_t - 1) * stamp.dt_s])
    xs, ys = raster.data_to_pixels((f_path - lo) / (hi - lo) * cols, [0.5, n_t - 0.5],
                                   raw.shape, out.shape[:2])
    raster.draw_line(out, (xs[0], ys[0]), (xs[1], ys[1]), raster.WHITE, 1, DOT_PX)


def _title(rank: int, hit) -> str:
    return (f"#{rank}  {hit.frequency_hz / 1e6:.6f} MHz  {hit.drift_rate:+.4f} Hz/s  "
            f"S/N {hit.snr:.1f}  {hit.classification}  ({hit.interestingness:.2f})")


def _edge_labels(canvas, box, lo: str, hi: str, caption: str) -> None:
    """End values under a panel's bottom corners and a caption centred below them."""
    left, _, right, bottom = box
    raster.text(canvas, (left, bottom + 4), lo, TICK_PX, "lt")
    raster.text(canvas, (right, bottom + 4), hi, TICK_PX, "rt")
    raster.text(canvas, ((left + right) / 2, bottom + 24), caption, TICK_PX, "mt")


def render_stamp(stamp, hit, rank: int):
    """(uint8 RGB picture, PNG metadata) of one stamp."""
    h, w_raw = panel_size(stamp.raw.shape)
    _, w_dd = panel_size(stamp.dedrifted.shape)
    title = _title(rank, hit)
    width = max(LEFT + w_raw + GAP + w_dd + RIGHT,
                raster.text_width(title, TITLE_PX) + 2 * RIGHT)
    canvas = np.full((TOP + h + BOTTOM, width, 3), 255, dtype=np.uint8)
    raw_box = (LEFT, TOP, LEFT + w_raw, TOP + h)
    dd_box = (raw_box[2] + GAP, TOP, raw_box[2] + GAP + w_dd, TOP + h)
    _raw_panel(canvas[TOP:TOP + h, raw_box[0]:raw_box[2]], stamp, hit)
    _panel(canvas[TOP:TOP + h, dd_box[0]:dd_box[2]], stamp.dedrifted)
    raster.text(canvas, (width / 2, 6), title, TITLE_PX, "mt")
    raster.text(canvas, ((raw_box[0] + raw_box[2]) / 2, TOP - 4), "raw", LABEL_PX, "md")
    raster.text(canvas, ((dd_box[0] + dd_box[2]) / 2, TOP - 4), "de-drifted", LABEL_PX, "md")
    t1 = stamp.raw.shape[0] * stamp.dt_s
    raster.text(canvas, (LEFT - 4, TOP), f"{t1:.0f} s", TICK_PX, "rt")
    raster.text(canvas, (LEFT - 4, TOP + h), "0 s", TICK_PX, "rb")
    raster.text(canvas, (LEFT - 30, TOP + h / 2), "time", TICK_PX, rotated=True)
    lo, hi = raw_offsets_hz(stamp, hit)
    f_mhz = f"{hit.frequency_hz / 1e6:.6f} MHz"
    _edge_labels(canvas, raw_box, f"{lo:+.0f}", f"{hi:+.0f} Hz", f"frequency - {f_mhz}")
    half = (stamp.dedrifted.shape[1] // 2 + 0.5) * stamp.df_hz
    _edge_labels(canvas, dd_box, f"{-half:+.0f}", f"{half:+.0f} Hz", "offset from drift path")
    description = (f"raw (left): frequency offset {lo:+.1f} to {hi:+.1f} Hz from {f_mhz}, "
                   f"drift path dotted; de-drifted (right): {-half:+.1f} to {half:+.1f} Hz "
                   f"about the drift path; time 0 to {t1:.1f} s upwards")
    metadata = {
        "Title": title, "Description": description, "Software": "mitraseti",
        "rank": rank, "frequency_hz": repr(float(hit.frequency_hz)),
        "drift_rate_hz_s": repr(float(hit.drift_rate)), "snr": repr(float(hit.snr)),
        "classification": hit.classification,
        "interestingness": repr(float(hit.interestingness)),
        "raw_panel_px": ",".join(map(str, raw_box)),
        "dedrifted_panel_px": ",".join(map(str, dd_box)),
    }
    return canvas, metadata


def write_stamps(result, out_dir: str | Path) -> list[Path]:
    """``stamps/cand_XX.png`` for each top candidate with a stamp (XX = rank, 00 = best)."""
    out = Path(out_dir)
    paths = []
    for rank, hit in enumerate(result.top_candidates):
        stamp = result.stamp_for(hit)
        if stamp is None:
            continue
        picture, metadata = render_stamp(stamp, hit, rank)
        paths.append(raster.save_png(picture, out / f"cand_{rank:02d}.png", metadata))
    return paths
