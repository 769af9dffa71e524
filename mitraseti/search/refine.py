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

from .hit import MATCHED_FILTER, Hit


def _path_sums(csum: np.ndarray, rows: np.ndarray, starts: np.ndarray, slope: float,
               width: int) -> np.ndarray:
    """Sum of a width-``width`` boxcar along straight paths (one per start channel)."""
    n_chan = csum.shape[1] - 1
    dt = (rows - rows[0]).astype(np.float64)
    centre = starts[:, None] + slope * dt[None, :]
    lo = np.rint(centre - (width - 1) / 2.0).astype(np.int64)
    hi = lo + width
    inside = (lo >= 0).all(axis=1) & (hi <= n_chan).all(axis=1)
    lo = np.clip(lo, 0, n_chan)
    hi = np.clip(hi, 0, n_chan)
    sums = (csum[rows[None, :], hi] - csum[rows[None, :], lo]).sum(axis=1)
    return np.where(inside, sums, -np.inf)


def refine_hits(hits: list[Hit], block: np.ndarray, header, channel_offset: int = 0) -> None:
    """Refine ``frequency_hz``, ``drift_rate`` and ``channel_index`` of matched-filter hits
    in place, at full resolution, on the ``(n_spectra, nfpc)`` block they came from."""
    todo = [h for h in hits if h.source == MATCHED_FILTER and h.boxcar_width > 1]
    if not todo:
        return
    n_rows = block.shape[0]
    csum = np.zeros((n_rows, block.shape[1] + 1), dtype=np.float64)
    np.cumsum(block, axis=1, dtype=np.float64, out=csum[:, 1:])
    foff_hz = header.foff * 1e6
    for h in todo:
        t0 = int(h.spectrum_start)
        n = int(h.spectrum_count) or n_rows
        rows = np.arange(t0, min(t0 + n, n_rows))
        if rows.size < 2:
            continue
        width = int(h.boxcar_width)
        radius = max(2, width // 2)
        slope0 = h.drift_rate * header.dt_s / foff_hz          # channels per spectrum
        c_t0 = (h.frequency_hz / 1e6 - header.fch1) / header.foff - channel_offset
        start0 = c_t0 + slope0 * t0                            # local channel at row t0
        starts = start0 + np.arange(-radius, radius + 1, dtype=np.float64)
        step = 1.0 / (rows.size - 1)
        best = (-np.inf, start0, slope0)
        for ds in np.arange(-radius, radius + 1) * step:
            sums = _path_sums(csum, rows, starts, slope0 + ds, width)
            i = int(np.argmax(sums))
            if sums[i] > best[0]:
                best = (sums[i], starts[i], slope0 + ds)
        if not np.isfinite(best[0]):
            continue
        _, start, slope = best
        c_file_t0 = start - slope * t0 + channel_offset
        h.frequency_hz = header.channel_frequency_hz(c_file_t0)
        h.drift_rate = slope * foff_hz / header.dt_s
        h.channel_index = int(round(c_file_t0))
