"""Noise statistics for S/N: turboSETI's definition, measured on the searched data.

S/N of a drift path = (path sum - median) / robust std, where median and robust std come
from the zero-drift time-summed spectrum of the same (possibly decimated, possibly
time-segmented) data, so each detector stage is normalised on its own noise.

The robust std is turboSETI's ``comp_stats``: the standard deviation of the values lying
between the 5th and 95th percentiles. For Gaussian noise that is about 0.79 sigma, so S/N
values read about 1.27x a Gaussian-sigma S/N, exactly as turboSETI's do (values comparable).
"""
from __future__ import annotations

import numpy as np
from numba import njit


MAX_STATS_SAMPLES = 1 << 17


def spectrum_stats(time_summed: np.ndarray) -> tuple[float, float]:
    """(median, robust std) of a time-summed spectrum (any units; std 0 means "no noise").

    Spectra longer than 131072 channels are measured on an evenly strided subset of that
    size (percentile precision ~0.3 %, several times faster). Falls back to the plain std
    when the clipped set has no spread (quantised data).
    """
    x = np.asarray(time_summed).ravel()
    if x.size > MAX_STATS_SAMPLES:
        x = x[::-(-x.size // MAX_STATS_SAMPLES)]
    x = np.ascontiguousarray(x)
    finite = np.isfinite(x)
    if not finite.all():
        x = x[finite]
    if x.size == 0:
        return 0.0, 0.0
    low, median, high = _percentiles(x, (0.05, 0.5, 0.95))
    std = _clipped_std(x, np.float64(low), np.float64(high))
    if not std > 0.0:
        std = float(x.astype(np.float64).std())
    return float(median), std


@njit(cache=True)
def _clipped_std_kernel(x, low, high):
    n, total = 0, 0.0
    for v in x:
        if low <= v <= high:
            n += 1
            total += v
    if n < 2:
        return 0.0
    mean = total / n
    ss = 0.0
    for v in x:
        if low <= v <= high:
            ss += (v - mean) ** 2
    return np.sqrt(ss / n)


def _clipped_std(x: np.ndarray, low: float, high: float) -> float:
    """Population std (float64) of the values of ``x`` within [low, high] (0 if < 2)."""
    return float(_clipped_std_kernel(x, low, high))


@njit(cache=True)
def _collect_window(x, lo, hi, buf):
    """Copy the values of ``x`` within [lo, hi] to the front of ``buf`` (size >= len(x)
    + 1, written branch-free); returns (how many, how many lie below ``lo``)."""
    c, below = 0, 0
    for v in x:
        buf[c] = v
        below += v < lo
        c += (v >= lo) & (v <= hi)
    return c, below


SELECT_SAMPLE = 4096  # values sampled to bracket each order statistic


def order_statistics(x: np.ndarray, kth: list[int]) -> dict[int, float]:
    """{k: k-th smallest of x} for sorted ``kth`` (exact). Neighbouring ranks are
    bracketed together from a sorted sample of ``x`` (+-4 sigma of the sample's rank
    error); one pass collects the values inside the bracket and a partition of those
    picks the ranks. A bracket that misses (rare) falls back to a full partition."""
    n = x.size
    if n < 4 * SELECT_SAMPLE:
        part = np.partition(x, kth)
        return {k: float(part[k]) for k in kth}
    m = SELECT_SAMPLE
    sample = np.sort(x[(np.arange(m) * n) // m])
    buf = np.empty(n + 1, dtype=x.dtype)
    out: dict[int, float] = {}
    groups: list[list[int]] = []
    for k in kth:  # ranks within a few apart share one bracket
        if groups and k - groups[-1][-1] <= 2:
            groups[-1].append(k)
        else:
            groups.append([k])
    for ks in groups:
        q_lo, q_hi = ks[0] / (n - 1), ks[-1] / (n - 1)
        pad = int(4.0 * np.sqrt(max(q_lo * (1 - q_lo), q_hi * (1 - q_hi)) * m)) + 3
        a, b = int(q_lo * (m - 1)) - pad, int(q_hi * (m - 1)) + 1 + pad
        lo = sample[a] if a > 0 else -np.inf
        hi = sample[b] if b < m - 1 else np.inf
        c, below = _collect_window(x, lo, hi, buf)
        if below <= ks[0] and ks[-1] < below + c:
            part = np.partition(buf[:c], [k - below for k in ks])
            out.update({k: float(part[k - below]) for k in ks})
        else:
            part = np.partition(x, ks)
            out.update({k: float(part[k]) for k in ks})
    return out


def _percentiles(x: np.ndarray, qs) -> list[float]:
    """np.percentile(x, 100 * qs) (default linear method), from exact order statistics of
    x in its own dtype (the interpolation is done in float64)."""
    n = x.size
    pos = []
    kth = set()
    for q in qs:
        v = q * (n - 1)
        f = int(np.floor(v))
        pos.append((f, v - f))
        kth.update((f, min(f + 1, n - 1)))
    stats = order_statistics(x, sorted(kth))
    out = []
    for f, frac in pos:
        lo, hi = stats[f], stats[min(f + 1, n - 1)]
        out.append(lo + frac * (hi - lo))
    return out


def to_snr(path_sums: np.ndarray, median: float, std: float,
           out: np.ndarray | None = None) -> np.ndarray:
    """Convert path sums to S/N (float32); -inf stays -inf; all -inf when std is 0.
    ``out``: a float32 array of the same shape to write into (may be ``path_sums``)."""
    sums = np.asarray(path_sums, dtype=np.float32)
    if out is None:
        out = np.empty(sums.shape, dtype=np.float32)
    if not std > 0.0:
        out.fill(-np.inf)
        return out
    np.subtract(sums, np.float32(median), out=out)
    np.divide(out, np.float32(std), out=out)
    return out
