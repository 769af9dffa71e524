"""Broadband features: telling them from narrowband signals, and measuring them.

BROADBAND (the label) is occupied bandwidth >= 500 Hz at any one time. A structured region
of the baseline (see :mod:`mitraseti.search.baseline`) is judged spectrum by spectrum: a
median over a run of 500 Hz ignores any narrowband signal (even a smeared one moves it by
less than 2 sigma) and follows broadband power. A region with such power is a broadband
feature, reported once with its width, S/N and centroid drift.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BROADBAND_HZ = 500.0   # occupied width at one time from which a signal is BROADBAND (Hz)
FEATURE_SIGMA = 5.0    # a broadband feature stands out by this many sigma of the baseline
GAUSS_PER_CLIPPED = 1.27  # Gaussian sigma / the 5-95 % clipped std


@dataclass
class BroadbandFeature:
    """A broadband feature found in the baseline: block columns ``lo`` .. ``hi - 1`` (at
    its time-averaged position), ``snr`` of the zero-drift boxcar over it, centroid
    ``centre`` (column at t = 0) and ``slope`` (columns per spectrum), ``excess``: peak
    power above the bandpass relative to the bandpass (power data) or in noise units."""

    lo: int
    hi: int
    snr: float
    centre: float
    slope: float
    excess: float

    @property
    def width(self) -> int:
        return self.hi - self.lo


def runs(flag: np.ndarray) -> list[tuple[int, int]]:
    """[lo, hi) of each run of True."""
    if not flag.any():
        return []
    d = np.diff(np.concatenate([[0], flag.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _run_medians(resid: np.ndarray, half: int) -> np.ndarray | None:
    """(T, k) medians of runs of ``half`` channels (>= 16) of each spectrum, or None."""
    n_t, m = resid.shape
    run = int(min(max(16, half), m))
    k = m // run
    if k == 0:
        return None
    return np.median(resid[:, :k * run].reshape(n_t, k, run), axis=2), run


def has_broad_power(resid: np.ndarray, half: int, n_sigma: float = 5.0) -> bool:
    """True when some spectrum of a (T, m) residual from the bandpass (units of the pixel
    noise) holds power over a run of ``half`` channels: its median stands > ``n_sigma``
    of its noise from zero. A narrowband signal, even a smeared one, moves such a
    median by < 2 sigma; broadband power (>= 500 Hz at one time) moves it all."""
    got = _run_medians(resid, half)
    if got is None:
        return False
    meds, run = got
    noise = 1.2533 * GAUSS_PER_CLIPPED / np.sqrt(run)
    # a pixel's median sits below its mean (chi-square): judge against the typical median
    return bool(np.abs(meds - np.median(meds)).max() > n_sigma * noise
                or abs(np.median(meds)) > n_sigma * noise)


def varies_in_time(resid: np.ndarray, half: int, n_sigma: float = 5.0) -> bool:
    """True when a (T, m) residual (units of the pixel noise) changes from spectrum to
    spectrum: medians over runs of ``half`` channels per spectrum stand out from each
    other by > ``n_sigma`` of their noise. Medians ignore narrow tones (a smeared
    drifting tone moves them by < 2 sigma), so only broadband power that comes and goes
    or moves turns this on."""
    got = _run_medians(resid, half)
    if got is None or resid.shape[0] < 2:
        return False
    meds, run = got
    noise = 1.2533 * GAUSS_PER_CLIPPED / np.sqrt(run)
    return bool(np.abs(meds - np.median(meds)).max() > n_sigma * noise)


def measure_features(block, regions, u, fine, unit, gain, offset, sigma, half, df_hz,
              power_like) -> list[BroadbandFeature]:
    """Broadband features inside the structured regions (before whitening)."""
    n_t, n = block.shape
    min_width = int(np.ceil(BROADBAND_HZ / max(df_hz, 1e-12)))
    out: list[BroadbandFeature] = []
    for lo, hi in regions:
        # noise of the fine baseline (a median of 2 half + 1 time-averaged values)
        local = np.maximum(fine[lo:hi], 0.05) if power_like else 1.0
        base_sigma = 1.2533 * sigma[lo:hi] * local / np.sqrt(n_t * (2 * half + 1))
        excess = fine[lo:hi] - unit
        above = excess > FEATURE_SIGMA * base_sigma
        for a, b in runs(above):
            a, b = a + lo, b + lo
            if b - a < min_width:
                continue
            # zero-drift boxcar S/N over the run (time-summed excess / its noise)
            ex = (u[a:b] - unit) / (sigma[a:b] / np.sqrt(n_t))
            snr = float(ex.sum() / np.sqrt(b - a))
            rows = (block[:, a:b].astype(np.float64) - offset[a:b]) / gain[a:b] - unit
            centre, slope = _centroid_track(np.clip(rows, 0.0, None), a)
            out.append(BroadbandFeature(lo=a, hi=b, snr=snr, centre=centre, slope=slope,
                                        excess=float(excess[a - lo:b - lo].max())))
    return out


def _centroid_track(excess_rows: np.ndarray, col0: int) -> tuple[float, float]:
    """(centroid column at t = 0, columns per spectrum) of a feature, by a weighted line
    fit to the per-spectrum power centroids."""
    n_t, w = excess_rows.shape
    power = excess_rows.sum(axis=1)
    cols = np.arange(w, dtype=np.float64) + col0
    with np.errstate(invalid="ignore", divide="ignore"):
        cen = (excess_rows * cols).sum(axis=1) / power
    ok = np.isfinite(cen) & (power > 0)
    if ok.sum() < 2:
        c = float(np.nanmean(cen[ok])) if ok.any() else col0 + 0.5 * (w - 1)
        return c, 0.0
    t = np.arange(n_t, dtype=np.float64)[ok]
    slope, icpt = np.polyfit(t, cen[ok], 1, w=np.sqrt(power[ok]))
    return float(icpt), float(slope)
