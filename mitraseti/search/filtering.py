"""Raw hits -> filtered hits: DC-bin blanking, artifact removal, merging, bandwidth.

* DC bin: BL coarse channels (power-of-two ``nfpc``) carry a spike at fine channel
  ``nfpc // 2``; as turboSETI does, it is replaced by the mean of its two neighbours in
  every spectrum before the search (the caller's array is restored afterwards).
* Artifacts: a hit whose whole path stays within ``EDGE_CHANNELS`` of one coarse-channel
  edge, or on the DC bin (+-1 channel), is dropped from the filtered list.
* Merging: raw hits from every detector stage that describe one signal (their paths agree
  within the sum of their widths where they overlap in time, or extrapolate onto each
  other across a gap within the drift-grid uncertainty) become one filtered hit: the one
  with the best S/N, with ``n_merged`` counting the raw hits it absorbed.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import numpy as np

from ..io.header import ObservationHeader
from .hit import Hit

EDGE_CHANNELS = 3
CROSSING_FACTOR = 1.5  # a weaker hit explained by crossing a stronger one is merged


def is_bl_like(nfpc: int) -> bool:
    """True when a coarse channel of ``nfpc`` fine channels has a DC bin to blank."""
    return nfpc >= 4 and (nfpc & (nfpc - 1)) == 0


@contextmanager
def dc_blanked(data: np.ndarray, enabled: bool = True):
    """Blank the DC bin of a (n_spectra, nfpc) block in place for the ``with`` body.

    The central column becomes the mean of its neighbours; it is restored on exit.
    Does nothing when disabled or when nfpc is not BL-like.
    """
    nfpc = data.shape[1]
    if not enabled or not is_bl_like(nfpc):
        yield data
        return
    mid = nfpc // 2
    saved = data[:, mid].copy()
    data[:, mid] = 0.5 * (data[:, mid - 1] + data[:, mid + 1])
    try:
        yield data
    finally:
        data[:, mid] = saved


def hit_path(hit: Hit, header: ObservationHeader) -> tuple[float, float, int, int]:
    """(file channel at t=0, channels per spectrum, first spectrum, last spectrum)."""
    c0 = (hit.frequency_hz / 1e6 - header.fch1) / header.foff
    slope = header.channels_per_spectrum(hit.drift_rate)
    first = hit.spectrum_start
    count = hit.spectrum_count or header.n_spectra
    return c0, slope, first, first + max(count, 1) - 1


def is_artifact(hit: Hit, header: ObservationHeader, nfpc: int, channel_offset: int,
                blank_dc: bool) -> bool:
    """DC-bin or band-edge artifact of the coarse channel starting at ``channel_offset``."""
    c0, slope, first, last = hit_path(hit, header)
    a = c0 + slope * first - channel_offset
    b = c0 + slope * last - channel_offset
    lo, hi = min(a, b), max(a, b)
    edge = max(EDGE_CHANNELS, hit.boxcar_width)
    if hi < edge - 0.5 or lo > nfpc - edge - 0.5:
        return True
    if blank_dc and is_bl_like(nfpc):
        mid = nfpc // 2
        if lo >= mid - 1.5 and hi <= mid + 1.5 and hit.boxcar_width <= 2:
            return True
    return False


def merge_hits(raw: list[Hit], header: ObservationHeader, grid_slopes: dict,
               pinned: list[bool] | None = None) -> list[Hit]:
    """One hit per physical signal, best S/N first kept (copies); sets ``n_merged``.

    Two hits are one signal when their straight paths agree within the sum of their
    widths at both ends of their common time span (across a time gap: at the facing
    ends, allowing the drift-grid uncertainty over the gap). A hit *pinned* at the edge of
    its stage's drift range (a matched-filter band seeing a signal whose drift lies just
    outside it) is also merged into a stronger hit whose path it crosses, and so is a hit
    whose S/N the crossing alone explains (<= 1.5x the stronger hit's S/N share over the
    spectra where the two paths coincide).
    ``grid_slopes`` maps (boxcar_width, spectrum_count) to that stage's drift-grid step
    in channels per spectrum.
    """
    if not raw:
        return []
    pinned = [False] * len(raw) if pinned is None else list(pinned)
    idx = sorted(range(len(raw)), key=lambda i: -raw[i].snr)
    order = [replace(raw[i], n_merged=1) for i in idx]
    pin = np.array([pinned[i] for i in idx], dtype=bool)
    n = len(order)
    c0 = np.empty(n); slope = np.empty(n); first = np.empty(n); last = np.empty(n)
    tol = np.empty(n); dslope = np.empty(n)
    snr = np.array([h.snr for h in order])
    for i, h in enumerate(order):
        c0[i], slope[i], first[i], last[i] = hit_path(h, header)
        tol[i] = 1.5 + 0.5 * max(h.boxcar_width, abs(slope[i]))
        dslope[i] = 0.5 * grid_slopes.get((h.boxcar_width, h.spectrum_count), 0.0)
    kept: list[int] = []
    for i in range(n):
        if kept:
            k = np.asarray(kept)
            lo = np.maximum(first[i], first[k])
            hi = np.minimum(last[i], last[k])
            gap = np.maximum(lo - hi, 0.0)  # spectra between the two spans (0 if overlap)
            ta, tb = np.minimum(lo, hi), np.maximum(lo, hi)
            da = (c0[i] + slope[i] * ta) - (c0[k] + slope[k] * ta)
            db = (c0[i] + slope[i] * tb) - (c0[k] + slope[k] * tb)
            allowed = tol[i] + tol[k] + gap * (dslope[i] + dslope[k])
            same = (np.abs(da) <= allowed) & (np.abs(db) <= allowed)
            crossing = (gap == 0) & ((np.sign(da) != np.sign(db))
                                     | (np.minimum(np.abs(da), np.abs(db)) <= allowed))
            same |= crossing & (pin[i] | pin[k])
            # a path crossing a much stronger signal picks up its power for a few spectra
            n_cross = np.minimum(np.maximum(hi - lo + 1, 1.0),
                                 allowed / np.maximum(np.abs(slope[i] - slope[k]), 1e-9) + 1)
            span = last[k] - first[k] + 1
            same |= crossing & (order[i].snr <= CROSSING_FACTOR * snr[k] * n_cross / span)
            if same.any():
                order[int(k[np.argmax(same)])].n_merged += 1
                continue
        kept.append(i)
    return [order[i] for i in kept]


def estimate_bandwidth(hit: Hit, data: np.ndarray, header: ObservationHeader,
                       channel_offset: int, pixel_median: float) -> float:
    """Occupied width (Hz) of the de-drifted signal: contiguous channels around the path
    whose time-summed power above the median is >= half the peak, times df (>= df)."""
    df = header.df_hz
    c0, slope, first, last = hit_path(hit, header)
    n_rows, n_chan = data.shape
    last = min(last, n_rows - 1)
    if last < first:
        return df
    t = np.arange(first, last + 1)
    centre = np.rint(c0 + slope * t - channel_offset).astype(np.int64)
    half = int(max(8, 2 * hit.boxcar_width, 2 * np.ceil(abs(slope)) + 2))
    offs = np.arange(-half, half + 1)
    cols = centre[:, None] + offs[None, :]
    inside = (cols >= 0) & (cols < n_chan)
    vals = np.where(inside, data[t[:, None], np.clip(cols, 0, n_chan - 1)], 0.0)
    counts = inside.sum(axis=0)
    prof = vals.sum(axis=0) - pixel_median * counts
    prof = np.where(counts > 0, prof, -np.inf)
    reach = int(max(1, np.ceil(0.5 * max(hit.boxcar_width, abs(slope)))))
    core = slice(half - reach, half + reach + 1)
    peak_pos = half - reach + int(np.argmax(prof[core]))
    peak = prof[peak_pos]
    if not np.isfinite(peak) or peak <= 0:
        return df
    lo = peak_pos
    while lo > 0 and prof[lo - 1] >= 0.5 * peak:
        lo -= 1
    hi = peak_pos
    while hi < len(prof) - 1 and prof[hi + 1] >= 0.5 * peak:
        hi += 1
    return float(max(1, hi - lo + 1) * df)
