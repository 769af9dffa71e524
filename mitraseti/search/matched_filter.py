"""Smearing-aware matched filter: boxcar-filtered copies searched with the same tree.

A signal drifting ``s = |drift| dt / df`` channels per spectrum spreads its power over
about ``s`` channels inside each spectrum (Doppler smearing); a one-channel-wide Taylor
path then collects only ~1/s of it. The drift fixes the smear, so each *smear band* (a
range of drifts) gets its own boxcar: every spectrum is summed over ``w ~ s`` adjacent
channels and the tree searches only that band's drifts. Widths are ~sqrt(2) apart, so
a smear is always within 1.22x of a width (>= 0.9 of the ideal S/N), and the boxcar
recovers ~sqrt(s) in S/N over the plain tree.

* Narrow boxcars (w < 12) run at full resolution *inside* the plain tree pass: the tree
  is linear, so the path sum of filtered data is the boxcar (over start channel) of the
  plain path sums (``taylor._max_over_drift_py``), a few vector passes per drift.
* Wider boxcars are sampled every ``hop`` channels (a power of two <= w/6, so a path is
  aligned on the smeared power within ~w/12) and searched as separate stages on the
  decimated copy: ``hop``-times fewer channels and drift indices.
* *Wide bands* (w = 4 ... 64, hop w/2, drifts up to w/2 channels per spectrum) catch
  wide, nearly stationary signals.

Every stage's S/N is normalised on its own filtered time-summed spectrum (``snr.py``), so
false alarms stay controlled.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from .taylor import serial_twin

# boxcar widths, about sqrt(2) apart: a smear s is always within 1.22x of one of them
SMEAR_WIDTHS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
WIDE_WIDTHS = (4, 8, 16, 32, 64)
MIN_BINS = 16  # a filtered copy must keep at least this many channels


@njit(cache=True)
def _accumulate(dst, src, n):
    """dst[:n] += src[:n] (separate function: vectorised by LLVM)."""
    for i in range(n):
        dst[i] += src[i]


@njit(cache=True)
def _pair_sums(dst, src, n):
    """dst[i] = src[2i] + src[2i + 1] for i < n."""
    for i in range(n):
        dst[i] = src[2 * i] + src[2 * i + 1]


def _boxcar_py(data, width, hop, out):
    """Decimate each row by ``hop`` (a power of two) with pair sums, then add width / hop
    consecutive decimated channels (vectorised passes)."""
    n_out = out.shape[1]
    per = width // hop
    for t in prange(data.shape[0]):
        cur = data[t]
        n = cur.shape[0]
        h = 1
        while h < hop:
            n //= 2
            nxt = np.empty(n, dtype=np.float32)
            _pair_sums(nxt, cur, n)
            cur = nxt
            h *= 2
        dst = out[t]
        dst[:] = 0.0
        for u in range(per):
            _accumulate(dst, cur[u:], n_out)


_boxcar = njit(cache=True, parallel=True)(_boxcar_py)
_boxcar_serial = njit(cache=True)(serial_twin(_boxcar_py))


def boxcar(data: np.ndarray, width: int, hop: int | None = None) -> np.ndarray:
    """Boxcar-summed copy: out[t, i] = sum(data[t, i*hop : i*hop + width]).

    ``hop`` (default ``width``) must be a power of two dividing ``width``. Returns float32
    ``(n_spectra, (n_chan - width) // hop + 1)`` (no partial bins at the top edge).
    """
    hop = width if hop is None else hop
    if width < 1 or hop < 1 or hop & (hop - 1) or width % hop:
        raise ValueError(f"boxcar needs width >= 1 and a power-of-two hop dividing it, "
                         f"got width={width}, hop={hop}")
    a = np.ascontiguousarray(data, dtype=np.float32)
    n_out = max(0, (a.shape[1] - width) // hop + 1)
    out = np.empty((a.shape[0], n_out), dtype=np.float32)
    if n_out:
        kernel = _boxcar if a.size >= (1 << 20) else _boxcar_serial
        kernel(a, int(width), int(hop), out)
    return out


def decimate(data: np.ndarray, factor: int, phase: int = 0) -> np.ndarray:
    """Sum ``factor`` (a power of two) adjacent channels from channel ``phase``."""
    return boxcar(np.asarray(data)[:, phase:], factor, factor)


def hop_for(width: int, per_hop: int = 6) -> int:
    """Largest power of two <= width / per_hop (>= 1) that divides the width."""
    h = 1
    while 2 * h * per_hop <= width and width % (2 * h) == 0:
        h *= 2
    return h


@dataclass(frozen=True)
class Band:
    """One matched-filter stage: boxcar ``width`` every ``hop`` channels, searching
    smears (channels per spectrum) in ``[smear_lo, smear_hi]``."""

    width: int
    hop: int
    smear_lo: float
    smear_hi: float


def smear_bands(max_smear: float, nfpc: int) -> list[Band]:
    """Bands covering smears from 1 channel per spectrum up to ``max_smear``.

    Band edges sit at the geometric mean of neighbouring widths; each band is searched
    with 5 % overlap so no drift falls between two grids.
    """
    bands = []
    lo = 1.0
    for i, w in enumerate(SMEAR_WIDTHS):
        if lo > max_smear or nfpc // hop_for(w) < MIN_BINS or w * 2 > nfpc:
            break
        nxt = SMEAR_WIDTHS[i + 1] if i + 1 < len(SMEAR_WIDTHS) else 2 * w
        hi = math.sqrt(w * nxt)
        hop = hop_for(w)
        bands.append(Band(w, hop, 0.95 * lo, 1.05 * min(hi, max_smear)))
        lo = hi
    return bands


def wide_bands(nfpc: int) -> list[Band]:
    """Boxcars for wide, slowly drifting signals: drifts up to half the width per spectrum."""
    out = []
    for w in WIDE_WIDTHS:
        hop = w // 2
        if nfpc // hop < MIN_BINS or w * 2 > nfpc:
            break
        out.append(Band(w, hop, 0.0, 0.5 * w))
    return out


def max_smear_channels(max_drift: float, dt: float, df: float) -> float:
    """Channels crossed within one spectrum at the largest searched drift."""
    return abs(max_drift) * dt / df
