"""Running medians for baseline estimation (numba kernels + a blocked approximation).

* ``running_median(x, half)``: exact median of ``x[i - half : i + half + 1]`` (clipped at
  the ends) for every i of a 1-D array, by a sorted sliding window: O(n * half) moves,
  used on short stretches only (regions holding structure).
* ``running_median_rows(x, half)``: the same along axis 1 of a 2-D array (one spectrum per
  row), for the per-spectrum baseline inside broadband features.
* ``blocked_running_median(x, block, k)``: a fast approximation for a whole coarse
  channel: medians of ``block``-channel blocks, then a running median over ``2k + 1`` of
  those (NaN blocks, i.e. masked ones, are skipped), linearly interpolated back to every
  channel. Its effective window is ``(2k + 1) * block`` channels.
* ``clipped_std``, ``sum_and_trimmed_mean``, ``whiten``/``unwhiten``: the robust noise
  figure and the single passes over a whole block that the baseline removal needs.
"""
from __future__ import annotations

import numpy as np
from ..jit import njit, prange

CHUNK = 4096  # channels per parallel chunk of the per-pixel kernels
CLIP = (5.0, 95.0)  # percentiles bounding the values of the robust std (turboSETI's comp_stats)


@njit(cache=True)
def _lower_bound(buf, m, v):
    """First index of the sorted ``buf[:m]`` whose value is >= v."""
    lo, hi = 0, m
    while lo < hi:
        mid = (lo + hi) // 2
        if buf[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _insert(buf, m, v):
    at = _lower_bound(buf, m, v)
    for j in range(m, at, -1):
        buf[j] = buf[j - 1]
    buf[at] = v


@njit(cache=True)
def _remove(buf, m, v):
    for j in range(_lower_bound(buf, m, v), m - 1):
        buf[j] = buf[j + 1]


@njit(cache=True)
def _running_median_1d(x, half, out):
    n = x.shape[0]
    buf = np.empty(2 * half + 2, dtype=np.float64)
    m = 0
    hi = -1
    lo = 0
    for i in range(n):
        new_hi = min(n - 1, i + half)
        new_lo = max(0, i - half)
        while hi < new_hi:
            hi += 1
            _insert(buf, m, x[hi])
            m += 1
        while lo < new_lo:
            _remove(buf, m, x[lo])
            m -= 1
            lo += 1
        if m % 2:
            out[i] = buf[m // 2]
        else:
            out[i] = 0.5 * (buf[m // 2 - 1] + buf[m // 2])


@njit(cache=True)
def _edge_preserving_1d(x, half, short, out, work, near):
    """out[i]: of the medians of the windows centred on i, ending at i and starting at i,
    the one closest to the short-window median around i (a step edge stays sharp)."""
    n = x.shape[0]
    _running_median_1d(x, half, work)
    _running_median_1d(x, short, near)
    for i in range(n):
        best = work[i]
        d = abs(best - near[i])
        for j in (i - half, i + half):
            if 0 <= j < n and abs(work[j] - near[i]) < d:
                best = work[j]
                d = abs(best - near[i])
        out[i] = best


@njit(cache=True, nogil=True)
def _running_median_rows(x, half, short, out):
    work = np.empty(x.shape[1])
    near = np.empty(x.shape[1])
    for r in range(x.shape[0]):
        if short > 0:
            _edge_preserving_1d(x[r], half, short, out[r], work, near)
        else:
            _running_median_1d(x[r], half, out[r])


def running_median(x: np.ndarray, half: int, short: int = 0) -> np.ndarray:
    """Exact running median (float64) of a finite 1-D array, window 2 * half + 1.
    ``short`` > 0: edge-preserving (see ``running_median_rows``)."""
    return running_median_rows(np.asarray(x)[None, :], half, short)[0]


def running_median_rows(x: np.ndarray, half: int, short: int = 0) -> np.ndarray:
    """Exact running median along axis 1 of a finite 2-D array (float64 result).

    ``short`` > 0 makes it edge-preserving: at each point the median of the centred
    window, or of the window ending there, or of the one starting there, whichever is
    closest to the median of the 2 * short + 1 points around it. A centred median bends
    a step edge (it follows the step only once half its window is across); the one-sided
    windows do not straddle it."""
    a = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(a.shape, dtype=np.float64)
    if a.size:
        _running_median_rows(a, max(0, int(half)), max(0, int(short)), out)
    return out


@njit(cache=True)
def _block_medians(x, block, out):
    n = x.shape[0]
    buf = np.empty(block, dtype=np.float64)
    for i in range(out.shape[0]):
        m = min(n, (i + 1) * block) - i * block
        buf[:m] = x[i * block:i * block + m]
        seg = buf[:m]
        seg.sort()
        out[i] = seg[m // 2] if m % 2 else 0.5 * (seg[m // 2 - 1] + seg[m // 2])


@njit(cache=True)
def _window_median(v, k, out):
    n = v.shape[0]
    buf = np.empty(2 * k + 2, dtype=np.float64)  # the window's finite values, sorted
    m = 0
    hi = -1
    lo = 0
    for i in range(n):
        new_hi = min(n - 1, i + k)
        new_lo = max(0, i - k)
        while hi < new_hi:
            hi += 1
            if np.isfinite(v[hi]):
                _insert(buf, m, v[hi])
                m += 1
        while lo < new_lo:
            if np.isfinite(v[lo]):
                _remove(buf, m, v[lo])
                m -= 1
            lo += 1
        if m == 0:
            out[i] = np.nan
        else:
            out[i] = buf[m // 2] if m % 2 else 0.5 * (buf[m // 2 - 1] + buf[m // 2])


def block_medians(x: np.ndarray, block: int) -> np.ndarray:
    """Median of each run of ``block`` values (the last, partial block included)."""
    a = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(-(-a.shape[0] // block), dtype=np.float64)
    _block_medians(a, int(block), out)
    return out


def window_median(values: np.ndarray, k: int) -> np.ndarray:
    """Running median over 2k + 1 values of a short 1-D array (clipped at the ends),
    ignoring NaN (a window with no finite value gives NaN)."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    if k <= 0 or v.size == 0:
        return v.copy()
    out = np.empty_like(v)
    _window_median(v, int(k), out)
    return out


def fill_nan(values: np.ndarray) -> np.ndarray:
    """NaN entries replaced by linear interpolation between finite neighbours."""
    v = np.asarray(values, dtype=np.float64).copy()
    bad = ~np.isfinite(v)
    if bad.all():
        return np.zeros_like(v)
    if bad.any():
        idx = np.arange(v.size)
        v[bad] = np.interp(idx[bad], idx[~bad], v[~bad])
    return v


@njit(cache=True, nogil=True)
def _to_channels_at(v, block, idx, out):
    m = v.shape[0]
    half = 0.5 * (block - 1)
    for j in range(idx.shape[0]):
        x = (idx[j] - half) / block
        if x <= 0.0 or m == 1:
            out[j] = v[0]
        elif x >= m - 1:
            out[j] = v[m - 1]
        else:
            i = int(x)
            out[j] = v[i] + (x - i) * (v[i + 1] - v[i])


def to_channels_at(block_values: np.ndarray, block: int, idx: np.ndarray) -> np.ndarray:
    """:func:`to_channels` evaluated at the channels ``idx`` only."""
    out = np.empty(len(idx), dtype=np.float64)
    _to_channels_at(np.ascontiguousarray(block_values, dtype=np.float64), float(block),
                    np.ascontiguousarray(idx, dtype=np.int64), out)
    return out


def to_channels(block_values: np.ndarray, block: int, n: int) -> np.ndarray:
    """Block values (one per ``block`` channels, at the block centres) linearly
    interpolated to ``n`` channels (held constant beyond the first and last centre)."""
    return to_channels_at(block_values, block, np.arange(n))


def blocked_running_median(x: np.ndarray, block: int, k: int,
                           block_mask: np.ndarray | None = None,
                           meds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(baseline per channel, smoothed block values): see the module docstring.
    ``block_mask`` (bool per block, True = ignore) leaves blocks out of the median;
    ``meds``: the block medians when already known."""
    meds = block_medians(x, block) if meds is None else meds
    if block_mask is not None:
        meds = np.where(block_mask, np.nan, meds)
    smooth = fill_nan(window_median(meds, k))
    return to_channels(smooth, block, x.shape[0]), smooth


@njit(cache=True)
def _det3(a00, a01, a02, a10, a11, a12, a20, a21, a22):
    return (a00 * (a11 * a22 - a12 * a21) - a01 * (a10 * a22 - a12 * a20)
            + a02 * (a10 * a21 - a11 * a20))


@njit(cache=True)
def _local_quadratic(v, skip, k, out):
    n = v.shape[0]
    s = np.zeros(5)
    r = np.zeros(3)
    for i in range(n):
        s[:] = 0.0
        r[:] = 0.0
        for j in range(max(0, i - k), min(n, i + k + 1)):
            if skip[j] or not np.isfinite(v[j]):
                continue
            x = float(j - i) / (k + 1)
            p = 1.0
            for q in range(5):
                if q < 3:
                    r[q] += p * v[j]
                s[q] += p
                p *= x
        # normal equations [[s0 s1 s2] [s1 s2 s3] [s2 s3 s4]] c = r; the value at i is c0
        det = _det3(s[0], s[1], s[2], s[1], s[2], s[3], s[2], s[3], s[4])
        if s[0] >= 4 and abs(det) > 1e-12 * max(1.0, s[0]) ** 3:
            out[i] = _det3(r[0], s[1], s[2], r[1], s[2], s[3], r[2], s[3], s[4]) / det
        elif s[0] > 0:
            out[i] = r[0] / s[0]
        else:
            out[i] = np.nan


def local_quadratic(values: np.ndarray, skip: np.ndarray, k: int) -> np.ndarray:
    """Value at each point of a least-squares quadratic fitted to the 2k + 1 values
    around it (clipped at the ends), leaving out ``skip`` (bool) and NaN values; a
    Savitzky-Golay smoother that tolerates gaps. Follows curved baselines (a bandpass
    knee) without the bias of a running median."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty_like(v)
    if v.size:
        _local_quadratic(v, np.ascontiguousarray(skip, dtype=np.bool_), int(k), out)
    return out


@njit(cache=True, nogil=True, parallel=True)
def _shift_scale_shift(block, before, mul, after):
    n_t, n = block.shape
    for k in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = k * CHUNK, min(n, (k + 1) * CHUNK)
        for t in range(n_t):
            for c in range(lo, hi):
                block[t, c] = (block[t, c] - before[c]) * mul[c] + after[c]


def _per_column(block, before, mul, after) -> None:
    """block[t, c] = (block[t, c] - before[c]) * mul[c] + after[c], in place, in one pass
    (float32 columns)."""
    _shift_scale_shift(block, *(np.ascontiguousarray(x, dtype=np.float32)
                                for x in (before, mul, after)))


def whiten(block: np.ndarray, level: np.ndarray, scale: np.ndarray) -> None:
    """block[t, c] = (block[t, c] - level[c]) / scale[c], in place, in one pass."""
    _per_column(block, level, 1.0 / scale, np.zeros(block.shape[1]))


@njit(cache=True, nogil=True, parallel=True)
def _sum_and_trimmed(block, total, trimmed):
    n_t, n = block.shape
    for k in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = k * CHUNK, min(n, (k + 1) * CHUNK)
        m = hi - lo
        acc = np.zeros(m, dtype=np.float32)  # float32 lanes: one vectorised pass
        top1 = np.full(m, -np.inf, dtype=np.float32)
        top2 = np.full(m, -np.inf, dtype=np.float32)
        for t in range(n_t):
            for j in range(m):
                v = block[t, lo + j]
                acc[j] += v
                a = top1[j]
                top2[j] = max(top2[j], min(a, v))
                top1[j] = max(a, v)
        for j in range(m):
            s = float(acc[j])
            total[lo + j] = s
            if n_t > 2:
                trimmed[lo + j] = (s - float(top1[j]) - float(top2[j])) / (n_t - 2)
            else:
                trimmed[lo + j] = s / n_t


def sum_and_trimmed_mean(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel of a float32 (T, n) block, in one pass: the sum over spectra and the
    mean leaving out the two brightest spectra (float64; the plain mean when T <= 2).
    A drifting tone crossing a channel in a spectrum or two does not raise the trimmed
    mean; broadband power present in most spectra does. Sums accumulate in float32, as
    ``block.sum(axis=0)`` does (~1e-7 relative)."""
    n = block.shape[1]
    total, trimmed = np.empty(n), np.empty(n)
    _sum_and_trimmed(block, total, trimmed)
    return total, trimmed


@njit(cache=True)
def clipped_moments(x, lo, hi):
    """(count, sum of squared deviations from their mean) of the values of the 1-D ``x``
    within [lo, hi], in float64: what a clipped std is made of."""
    n, total = 0, 0.0
    for v in x:
        if lo <= v <= hi:
            n += 1
            total += v
    mean = total / max(n, 1)
    ss = 0.0
    for v in x:
        if lo <= v <= hi:
            ss += (v - mean) ** 2
    return n, ss


@njit(cache=True)
def _clipped_std_rows(x, lo, hi, out):
    """out[r]: sample std of the values of row r within [lo[r], hi[r]] (0 if < 2)."""
    for r in range(x.shape[0]):
        n, ss = clipped_moments(x[r], lo[r], hi[r])
        out[r] = np.sqrt(ss / max(n - 1, 1))


def clipped_std(x: np.ndarray, axis=None) -> np.ndarray:
    """Std of the values between the 5th and 95th percentiles: of all of ``x``
    (``axis=None``) or of each row of a 2-D ``x`` (``axis=1``)."""
    if axis not in (None, 1, -1):
        raise ValueError(f"clipped_std: axis must be None or 1 (rows of a 2-D array), got {axis}")
    rows = np.ascontiguousarray(x, dtype=np.float64)
    rows = rows.reshape(1, -1) if axis is None else rows
    if rows.ndim != 2:
        raise ValueError(f"clipped_std: axis=1 needs a 2-D array, got shape {rows.shape}")
    lo, hi = np.percentile(rows, CLIP, axis=1)
    out = np.empty(rows.shape[0])
    _clipped_std_rows(rows, lo, hi, out)
    return out[0] if axis is None else out


def unwhiten(block: np.ndarray, level: np.ndarray, scale: np.ndarray) -> None:
    """block[t, c] = block[t, c] * scale[c] + level[c], in place (undoes ``whiten``)."""
    _per_column(block, np.zeros(block.shape[1]), scale, level)
