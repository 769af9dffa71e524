"""Top-hit search: per-channel maxima above threshold that win their suppression window.

A raw hit (docs/signals.md, turboSETI ``tophitsearch``) is a start channel whose best S/N over
all drifts is >= the threshold and is not exceeded by any channel within ``window``
channels on either side (turboSETI: 2 * ceil(max_drift / r)). Ties keep the lowest channel.
"""
from __future__ import annotations

import numpy as np
from ..jit import njit


@njit(cache=True)
def _top_hits(snr, threshold, window):
    n = snr.shape[0]
    cand = np.nonzero(snr >= threshold)[0]
    keep = np.zeros(cand.shape[0], dtype=np.bool_)
    for q in range(cand.shape[0]):
        i = cand[q]
        v = snr[i]
        lo = max(0, i - window)
        hi = min(n, i + window + 1)
        ok = True
        for u in range(lo, hi):
            if snr[u] > v or (snr[u] == v and u < i):
                ok = False
                break
        keep[q] = ok
    return cand[keep]


def top_hits(snr: np.ndarray, threshold: float, window: int) -> np.ndarray:
    """Indices (ascending) of the raw hits in a per-channel best-S/N array.

    snr: float32 (n_chan,), -inf where nothing was searched; threshold: S/N;
    window: suppression half-width in channels (>= 0).
    """
    a = np.ascontiguousarray(snr, dtype=np.float32)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    return _top_hits(a, np.float32(threshold), int(max(0, window))).astype(np.int64)
