"""Smearing-aware matched filter: boxcar-filtered copies searched with the same tree.

A signal drifting ``s = |drift| dt / df`` channels per spectrum spreads its power over
about ``s`` channels inside each spectrum (Doppler smearing); a one-channel-wide Taylor
path then collects only ~1/s of it. The drift fixes the smear, so each *smear band* (a
range of drifts) gets its own boxcar: every spectrum is summed over ``w ~ s`` adjacent
channels and the tree searches only that band's drifts. Widths are ~sqrt(2) apart, so
a smear is always within 1.22x of a width (>= 0.9 of the ideal S/N), and the boxcar
recovers ~sqrt(s) in S/N over the plain tree.

* The plain tree runs at full resolution only up to FULL_RES_SMEAR (3) channels per
  spectrum; faster signals are smeared over several channels anyway, so nothing is lost
  by searching them on decimated copies where the tree needs only a few drift blocks.
* The narrowest boxcar (w = 2, smears 1 ... 2) runs at full resolution *inside* the plain
  tree pass: the tree is linear, so the path sum of filtered data is the boxcar (over
  start channel) of the plain path sums (``taylor._max_over_drift_py``).
* Wider boxcars (smears > 2) are sampled every ``hop`` channels (``decimated_hop``: 2 or
  4 for w <= 24) and searched as separate stages: ``hop``-times fewer channels and drift
  indices. The decimated copy is never stored: the tree kernel builds it chunk by chunk
  from a pair-summed level of the block (``run.StageViews``: levels made in ascending
  order in one reused buffer of a quarter of the block; level 1 in two pieces).
* *Wide bands* (w = 4 ... 64, hop w/2, drifts up to ~w/2 channels per spectrum) catch
  wide, nearly stationary signals; a wide band touching the smear band of the same
  boxcar is searched in the same pass.

Hits of the decimated stages are labelled ``source = "matched_filter"``; their
frequency (boxcar centre at t = 0), drift and channel index are in full-resolution
units, quantised to the stage's hop (channel) and hop / (T2 - 1) (channels / spectrum).

Every stage's S/N is normalised on its own filtered time-summed spectrum (``snr.py``), so
false alarms stay controlled.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ..jit import njit, prange

from .taylor import _add_into, _add_into_strided, serial_twin

# boxcar widths, about sqrt(2) apart: a smear s is always within 1.22x of one of them
SMEAR_WIDTHS = (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
WIDE_WIDTHS = (4, 8, 16, 32, 64)
MIN_BINS = 16  # a filtered copy must keep at least this many channels
FULL_RES_SMEAR = 3.0  # plain tree (full resolution) up to this many channels / spectrum
FUSED_SMEAR = 2.0  # smear bands below this: full-resolution boxcars fused into that pass
WIDE_SMEAR = 0.46  # wide bands search drifts up to this many widths per spectrum (< 1 block)


@njit(cache=True)
def _pair_sums(dst, src, n):
    """dst[i] = src[2i] + src[2i + 1] for i < n."""
    for i in range(n):
        dst[i] = src[2 * i] + src[2 * i + 1]


@njit(cache=True)
def boxcar_split(width, hop):
    """(g, per, stride) of a boxcar of ``width`` channels every ``hop`` (a power of two):
    g = the largest power of two <= hop dividing width; the boxcar is ``per`` = width / g
    adjacent channels of the block pair-summed log2(g) times, every ``stride`` = hop / g."""
    g = 1
    while g < hop and width % (2 * g) == 0:
        g *= 2
    return g, width // g, hop // g


def _boxcar_py(data, width, hop, out):
    """Decimate each row by g (``boxcar_split``) with pair sums, then add ``per``
    decimated channels every ``stride`` (vectorised passes)."""
    n_out = out.shape[1]
    g, per, stride = boxcar_split(width, hop)
    for t in prange(data.shape[0]):
        cur = data[t]
        n = cur.shape[0]
        h = 1
        while h < g:
            n //= 2
            nxt = np.empty(n, dtype=np.float32)
            _pair_sums(nxt, cur, n)
            cur = nxt
            h *= 2
        dst = out[t]
        dst[:] = 0.0
        for u in range(per):
            if stride == 1:
                _add_into(dst, cur[u:], n_out)
            else:
                _add_into_strided(dst, cur[u:], stride, n_out)


_boxcar = njit(cache=True, parallel=True)(_boxcar_py)
_boxcar_serial = njit(cache=True)(serial_twin(_boxcar_py))


def boxcar(data: np.ndarray, width: int, hop: int | None = None) -> np.ndarray:
    """Boxcar-summed copy: out[t, i] = sum(data[t, i*hop : i*hop + width]).

    ``hop`` (default ``width``) must be a power of two. Returns float32
    ``(n_spectra, (n_chan - width) // hop + 1)`` (no partial bins at the top edge).
    """
    hop = width if hop is None else hop
    if width < 1 or hop < 1 or hop & (hop - 1):
        raise ValueError(f"boxcar needs width >= 1 and a power-of-two hop, "
                         f"got width={width}, hop={hop}")
    a = np.ascontiguousarray(data, dtype=np.float32)
    n_out = max(0, (a.shape[1] - width) // hop + 1)
    out = np.empty((a.shape[0], n_out), dtype=np.float32)
    if n_out:
        kernel = _boxcar if a.size >= (1 << 20) else _boxcar_serial
        kernel(a, int(width), int(hop), out)
    return out


def decimate_into(data: np.ndarray, factor: int, out: np.ndarray) -> np.ndarray:
    """out[t, i] = sum(data[t, i * factor:(i + 1) * factor]) for a float32 C-contiguous
    ``data``, ``factor`` a power of two, ``out`` float32 (n_spectra, n_chan // factor):
    pair sums row by row, the same float32 sums as pair-summing the whole array
    log2(factor) times; returns ``out``."""
    a = np.ascontiguousarray(data, dtype=np.float32)
    if out.shape != (a.shape[0], a.shape[1] // factor) or out.dtype != np.float32:
        raise ValueError(f"decimate_into: out must be float32 "
                         f"{(a.shape[0], a.shape[1] // factor)}")
    if out.shape[1]:
        kernel = _boxcar if a.size >= (1 << 20) else _boxcar_serial
        kernel(a, int(factor), int(factor), out)
    return out


@njit(cache=True, parallel=True)
def _pair_sum_columns(data, c0, out):
    """out[t, j] = data[t, c0 + 2j] + data[t, c0 + 2j + 1]."""
    n = out.shape[1]
    for t in prange(data.shape[0]):
        _pair_sums(out[t], data[t, c0:], n)


def pair_sum_columns_into(data: np.ndarray, c0: int, out: np.ndarray) -> np.ndarray:
    """Channels ``c0 // 2`` .. of ``data`` pair-summed once, into ``out`` (float32
    (n_spectra, m), 2 m channels read from column ``c0`` of the float32 C-contiguous
    ``data``): the same float32 sums as :func:`decimate_into` with factor 2, for a window
    of columns without copying it out first; returns ``out``."""
    if (data.dtype != np.float32 or not data.flags.c_contiguous or out.dtype != np.float32
            or out.shape[0] != data.shape[0] or c0 < 0 or c0 + 2 * out.shape[1] > data.shape[1]):
        raise ValueError(f"pair_sum_columns_into: out must be float32 (n_spectra, m) with "
                         f"{c0} + 2 m <= {data.shape[1]} float32 C-contiguous columns")
    if out.size:
        _pair_sum_columns(data, int(c0), out)
    return out


@njit(cache=True, parallel=True)
def _pair_sum_rows_in_place(flat, n_rows, m_in, m_out, chunk):
    """Row 0 in one pass (its output overlaps its input); each later row r in parallel
    chunks: its output lies before its own input and overlaps only inputs of rows < r,
    which were read before (rows run in order). ``_pair_sums`` on two views of one array
    (numba assumes they may alias) keeps the element order of a plain loop."""
    _pair_sums(flat, flat, m_out)
    n_chunks = (m_out + chunk - 1) // chunk
    for r in range(1, n_rows):
        for q in prange(n_chunks):
            lo = q * chunk
            _pair_sums(flat[r * m_out + lo:], flat[r * m_in + 2 * lo:],
                       min(chunk, m_out - lo))


def pair_sum_in_place(data: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """``data`` (float32 (n_spectra, m), the first ``data.size`` elements of the 1-D buffer
    ``flat``) pair-summed once, written over itself at the start of ``flat``: returns the
    float32 (n_spectra, m // 2) result (a view of ``flat``), the same sums as
    :func:`decimate_into` with factor 2. Every element is read before it is overwritten
    (rows in order; see ``_pair_sum_rows_in_place``)."""
    n_rows, m_in = data.shape
    m_out = m_in // 2
    if data.size and (data.dtype != np.float32 or flat.dtype != np.float32 or flat.ndim != 1
                      or data.ctypes.data != flat.ctypes.data or not data.flags.c_contiguous):
        raise ValueError("pair_sum_in_place: data must be the C-contiguous float32 start "
                         "of flat")
    _pair_sum_rows_in_place(flat, n_rows, m_in, m_out, 1 << 14)
    return flat[:n_rows * m_out].reshape(n_rows, m_out)


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


# channel step of the decimated smear bands, by boxcar width (wider ones: ~width / 6)
DECIMATED_HOPS = {3: 2, 4: 2, 6: 4, 8: 4, 12: 4, 16: 2, 24: 4}


def decimated_hop(width: int) -> int:
    """Channel step of a decimated smear band of boxcar ``width`` (DECIMATED_HOPS, then
    the largest power of two <= width / 6 dividing it, at least 4).

    The tree's cost is ~ (channels / hop) x (drift blocks ~ smear range / hop); a path's
    misalignment on the smeared power grows with hop. The table is tuned on the
    Voyager-like benchmark (benchmarks/compare_turboseti.py, 120 smeared tones): coarser
    steps lost fast drifters (width 16 at hop 4: 3 tones of 2-3 Hz/s), finer ones found
    no more for their cost."""
    if width in DECIMATED_HOPS:
        return min(DECIMATED_HOPS[width], width)
    return max(4, hop_for(width, 6))


def smear_bands(max_smear: float, nfpc: int, full_res_smear: float = FUSED_SMEAR
                ) -> list[Band]:
    """Bands covering smears from 1 channel per spectrum up to ``max_smear``.

    Band edges sit at the geometric mean of neighbouring widths; each band is searched
    with 5 % overlap so no drift falls between two grids. Smears below ``full_res_smear``
    (the plain tree's range) run at full resolution (hop 1, fused into the plain tree
    pass, band capped at ``full_res_smear``); faster ones on decimated copies
    (hop: ``decimated_hop``), where the tree needs only a few drift blocks.
    """
    bands = []
    lo = 1.0
    for i, w in enumerate(SMEAR_WIDTHS):
        full = lo < full_res_smear
        hop = 1 if full else decimated_hop(w)
        if lo > max_smear or nfpc // hop < MIN_BINS or w * 2 > nfpc:
            break
        nxt = SMEAR_WIDTHS[i + 1] if i + 1 < len(SMEAR_WIDTHS) else 2 * w
        hi = math.sqrt(w * nxt)
        if full and hi >= full_res_smear:
            hi = full_res_smear
            bands.append(Band(w, hop, 0.95 * lo, min(hi, 1.05 * max_smear)))
        else:
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
        out.append(Band(w, hop, 0.0, WIDE_SMEAR * w))
    return out


def max_smear_channels(max_drift: float, dt: float, df: float) -> float:
    """Channels crossed within one spectrum at the largest searched drift."""
    return abs(max_drift) * dt / df
