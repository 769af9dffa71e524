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
from ..jit import njit

from ..order_stats import order_statistics
from .running_median import clipped_moments


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


def _clipped_std(x: np.ndarray, low: float, high: float) -> float:
    """Population std (float64) of the values of ``x`` within [low, high] (0 if < 2)."""
    n, ss = clipped_moments(x, low, high)
    return float(np.sqrt(ss / n)) if n >= 2 else 0.0


@njit(cache=True)
def _collect_window(x, lo, hi, buf):
    """``mitraseti.order_stats``' collecting pass as one branch-free loop (the values of
    ``x`` within [lo, hi] to the front of ``buf``; returns (how many, how many below lo))."""
    c, below = 0, 0
    for v in x:
        buf[c] = v
        below += v < lo
        c += (v >= lo) & (v <= hi)
    return c, below


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
    stats = order_statistics(x, sorted(kth), collect=_collect_window)
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
