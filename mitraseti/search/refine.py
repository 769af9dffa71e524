"""Full-resolution refinement of matched-filter detections.

Decimated matched-filter stages report start channel and drift rounded to their own
grid (``hop`` fine channels, ``hop`` drift steps). A filtered hit is refined by a small
brute-force search at full resolution: path sums of the same boxcar width over start
channels within +-R fine channels and drift slopes within +-R steps of 1 / (n - 1)
channel per spectrum (R ~ width / 2, the largest rounding a stage of that width makes).
Paths that leave the band are not considered. S/N is kept from the detecting stage.
"""
from __future__ import annotations

import numpy as np

from .filtering import hit_path
from .hit import MATCHED_FILTER, Hit


def _path_sums(csum: np.ndarray, starts: np.ndarray, slopes: np.ndarray,
               width: int) -> np.ndarray:
    """Sums of a width-``width`` boxcar along straight paths, shape (starts, slopes).

    ``csum`` holds per-row cumulative sums of the window (one leading zero column);
    paths that leave the window give ``-inf``."""
    n_rows, n_chan = csum.shape[0], csum.shape[1] - 1
    dt = np.arange(n_rows, dtype=np.float64)
    centre = starts[:, None, None] + slopes[None, :, None] * dt[None, None, :]
    lo = np.rint(centre - (width - 1) / 2.0).astype(np.int64)
    hi = lo + width
    inside = (lo >= 0).all(axis=2) & (hi <= n_chan).all(axis=2)
    np.clip(lo, 0, n_chan, out=lo)
    np.clip(hi, 0, n_chan, out=hi)
    row = np.arange(n_rows)[None, None, :]
    sums = (csum[row, hi] - csum[row, lo]).sum(axis=2)
    return np.where(inside, sums, -np.inf)


def refine_hits(hits: list[Hit], block: np.ndarray, header, channel_offset: int = 0) -> None:
    """Refine ``frequency_hz``, ``drift_rate`` and ``channel_index`` of matched-filter hits
    in place, at full resolution, on the ``(n_spectra, nfpc)`` block they came from.

    Each hit only touches the window of channels its candidate paths can cross, so the
    cost and memory are per hit, not per block."""
    todo = [h for h in hits if h.source == MATCHED_FILTER and h.boxcar_width > 1]
    if not todo:
        return
    n_rows, n_chan = block.shape
    for h in todo:
        c_t0, slope0, t0, last = hit_path(h, header)           # file channel at t = 0
        rows = np.arange(t0, min(last + 1, n_rows))
        if rows.size < 2:
            continue
        width = int(h.boxcar_width)
        radius = max(2, width // 2)
        start0 = c_t0 - channel_offset + slope0 * t0           # local channel at row t0
        step = 1.0 / (rows.size - 1)
        span = rows[-1] - rows[0]
        # channels any candidate path can touch: both ends, widened by slope, start and width
        ends = (start0, start0 + slope0 * span)
        reach = radius + radius * step * span + width + 2
        lo = max(0, int(np.floor(min(ends) - reach)))
        hi = min(n_chan, int(np.ceil(max(ends) + reach)) + 1)
        if hi - lo < width:
            continue
        window = block[rows[0]:rows[-1] + 1, lo:hi]
        csum = np.zeros((window.shape[0], window.shape[1] + 1), dtype=np.float64)
        np.cumsum(window, axis=1, dtype=np.float64, out=csum[:, 1:])
        offsets = np.arange(-radius, radius + 1, dtype=np.float64)
        starts = (start0 - lo) + offsets
        slopes = slope0 + offsets * step
        sums = _path_sums(csum, starts, slopes, width)
        i, j = np.unravel_index(int(np.argmax(sums)), sums.shape)
        if not np.isfinite(sums[i, j]):
            continue
        start, slope = starts[i], slopes[j]
        c_file_t0 = start + lo - slope * t0 + channel_offset
        h.frequency_hz = header.channel_frequency_hz(c_file_t0)
        h.drift_rate = header.drift_rate_for(slope)
        h.channel_index = int(round(c_file_t0))
