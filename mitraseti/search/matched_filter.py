"""Smearing-aware matched filter: frequency-decimated copies searched with the same tree.

A signal drifting ``d = |drift| dt / df`` channels per spectrum spreads its power over
about ``d`` channels inside each spectrum (Doppler smearing); a one-channel-wide Taylor
path then collects only ~1/d of it. Summing ``D`` adjacent channels (a boxcar of width D,
sampled every D channels) before the tree collects the smeared power again: for
``d`` in [D, 2D) the de-smeared S/N is ~sqrt(D) times the plain tree's. The same boxcars
catch wide, slowly drifting signals. Each level is searched at two phases (bins starting
at channel 0 and at D/2) so a signal never straddles a bin edge at every phase. Decimated
data have D-times wider channels, hence a D-times coarser drift grid and a D-times smaller
cost; the S/N of each level is normalised on that level's own time-summed spectrum.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


def _decimate_py(data, factor, phase, out):
    n_out = out.shape[1]
    for t in prange(data.shape[0]):
        src = data[t, phase:]
        dst = out[t]
        for i in range(n_out):
            s = np.float32(0.0)
            base = i * factor
            for u in range(factor):
                s += src[base + u]
            dst[i] = s


_decimate = njit(cache=True, parallel=True)(_decimate_py)
_decimate_serial = njit(cache=True)(_decimate_py)


def decimate(data: np.ndarray, factor: int, phase: int = 0) -> np.ndarray:
    """Sum ``factor`` adjacent channels: out[t, i] = sum(data[t, phase + i*factor : +factor]).

    Returns float32 ``(n_spectra, (n_chan - phase) // factor)``; trailing channels that do
    not fill a whole bin are left out.
    """
    if factor < 1 or phase < 0:
        raise ValueError(f"decimate needs factor >= 1 and phase >= 0, got {factor}, {phase}")
    a = np.ascontiguousarray(data, dtype=np.float32)
    n_out = max(0, (a.shape[1] - phase) // factor)
    out = np.empty((a.shape[0], n_out), dtype=np.float32)
    if n_out:
        kernel = _decimate if a.size >= (1 << 20) else _decimate_serial
        kernel(a, int(factor), int(phase), out)
    return out


def max_smear_channels(max_drift: float, dt: float, df: float) -> float:
    """Channels crossed within one spectrum at the largest searched drift."""
    return abs(max_drift) * dt / df


def boxcar_levels(max_drift: float, dt: float, df: float, nfpc: int,
                  min_width: int = 64) -> list[int]:
    """Boxcar widths 2, 4, ... to search: up to twice the largest smear (and at least
    ``min_width`` channels, for wide signals), with at least 16 bins left per level."""
    smear = max_smear_channels(max_drift, dt, df)
    top = max(min_width, 2 * (1 << max(0, math.ceil(math.log2(max(smear, 1.0))))))
    levels = []
    d = 2
    while d <= top and nfpc // d >= 16:
        levels.append(d)
        d *= 2
    return levels
