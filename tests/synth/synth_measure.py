"""Measurements made directly on generated data, written independently of mitraseti.synth.

They follow the wording of SIGNALS.md, so the synth tests check the generator against the
contract rather than against its own bookkeeping.
"""
from __future__ import annotations

import numpy as np


def half_max_runs(spectrum: np.ndarray, threshold: float):
    """(centroid, n_channels) of the run of channels >= half the peak around the peak,
    or (nan, 0) when the peak is below ``threshold``."""
    k = int(np.argmax(spectrum))
    peak = float(spectrum[k])
    if peak < threshold:
        return float("nan"), 0
    half = 0.5 * peak
    lo = k
    while lo > 0 and spectrum[lo - 1] >= half:
        lo -= 1
    hi = k
    while hi < spectrum.size - 1 and spectrum[hi + 1] >= half:
        hi += 1
    idx = np.arange(lo, hi + 1)
    w = spectrum[lo:hi + 1]
    return float(np.sum(idx * w) / np.sum(w)), hi - lo + 1


def track(excess: np.ndarray, threshold: float):
    """Per spectrum: half-max centroid (channels) and half-max width (channels)."""
    out = [half_max_runs(row, threshold) for row in excess]
    return np.array([c for c, _ in out]), np.array([n for _, n in out])


def line_deviation(t: np.ndarray, c: np.ndarray):
    """Least-squares slope of c(t) and the largest |residual| (same unit as c)."""
    ok = np.isfinite(c)
    coeff = np.polyfit(t[ok], c[ok], 1)
    return float(coeff[0]), float(np.max(np.abs(c[ok] - np.polyval(coeff, t[ok]))))


def runs(mask: np.ndarray) -> int:
    """Number of separate True runs."""
    m = np.concatenate([[False], np.asarray(mask, bool)])
    return int(np.sum(~m[:-1] & m[1:]))


def window_power(excess: np.ndarray, centres: np.ndarray, half_width: float) -> np.ndarray:
    """Power per spectrum summed over channels within ``half_width`` of ``centres``."""
    chans = np.arange(excess.shape[1])
    return np.array([row[np.abs(chans - c) <= half_width].sum() for row, c in zip(excess, centres)])
