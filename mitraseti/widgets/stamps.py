"""De-drifting and per-hit stamps (raw and de-drifted cut-outs around one signal).

A signal drifting at ``drift`` Hz/s moves ``drift * t / df`` display columns (rising
frequency to the right) at time ``t`` s. Shifting spectrum ``i`` by ``-drift * t_i / df``
columns straightens it into a vertical line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mitraseti.widgets.source import DisplayView


def drift_shifts(n_rows: int, t0: int, dt_s: float, df_hz: float, drift: float) -> np.ndarray:
    """Integer column shift of each spectrum ``t0 .. t0+n_rows-1`` for a drift (Hz/s)."""
    t = (np.arange(n_rows) + t0) * dt_s
    return np.rint(drift * t / df_hz).astype(np.int64)


def shift_rows(block: np.ndarray, shifts: np.ndarray, pad: int, width: int) -> np.ndarray:
    """``out[i, j] = block[i, pad + shifts[i] + j]`` for ``j < width``.

    ``block`` must hold ``pad`` extra columns on each side with ``pad >= max |shifts|``.
    """
    rows = block.shape[0]
    idx = pad + shifts[:, None] + np.arange(width)[None, :]
    return block[np.arange(rows)[:, None], idx]


def dedrifted_window(view: DisplayView, cc: int, t0: int, t1: int, u0: int, u1: int,
                     drift: float) -> np.ndarray:
    """Display window ``(t0:t1, u0:u1)`` with each spectrum shifted by ``-drift * t / df``.

    Reads only the window plus the columns the shifts need; NaN outside the band."""
    if drift == 0:
        return view.read(cc, t0, t1, u0, u1)
    t1 = min(t1, view.n_spectra)
    shifts = drift_shifts(t1 - t0, t0, view.dt_s, view.df_mhz * 1e6, drift)
    pad = int(np.abs(shifts).max()) if shifts.size else 0
    block = view.read(cc, t0, t1, u0 - pad, u1 + pad)
    return shift_rows(block, shifts, pad, u1 - u0)


@dataclass
class Stamp:
    """A cut-out around one hit: ``raw`` and ``dedrifted`` are (n_spectra, width) float32
    in display columns ``u0 .. u0+width`` of coarse channel ``coarse_channel``."""

    coarse_channel: int
    u0: int
    raw: np.ndarray
    dedrifted: np.ndarray
    f_lo_mhz: float          # left edge (MHz) of the stamp (edge of column u0)
    df_mhz: float
    t_span_s: float
    drift_line_mhz: tuple[float, float]  # frequency (MHz) of the hit at t=0 and at t_span
    probabilities: dict = field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.raw.shape[1]


def hit_stamp(view: DisplayView, hit: dict, min_half_width: int = 16) -> Stamp:
    """Raw and de-drifted stamp for ``hit`` (a dict with ``frequency_hz`` and ``drift_rate``).

    The stamp spans every spectrum and is wide enough to hold the whole drift path plus
    ``min_half_width`` columns of margin on each side."""
    f0_mhz = float(hit["frequency_hz"]) / 1e6
    drift = float(hit.get("drift_rate", 0.0) or 0.0)
    cc = int(hit["coarse_channel"]) if hit.get("coarse_channel") is not None \
        else view.coarse_channel_of(f0_mhz)
    t_span = view.n_spectra * view.dt_s
    df_hz = view.df_mhz * 1e6
    travel = drift * t_span / df_hz                     # columns moved over the observation
    centre = view.column_of(cc, f0_mhz)
    lo = math.floor(centre + min(0.0, travel)) - min_half_width
    hi = math.ceil(centre + max(0.0, travel)) + min_half_width + 1
    raw = view.read(cc, 0, view.n_spectra, lo, hi)
    ded = dedrifted_window(view, cc, 0, view.n_spectra, lo, hi, drift)
    f_left = view.f_lo_mhz(cc) + (lo - 0.5) * view.df_mhz
    return Stamp(coarse_channel=cc, u0=lo, raw=raw, dedrifted=ded, f_lo_mhz=f_left,
                 df_mhz=view.df_mhz, t_span_s=t_span,
                 drift_line_mhz=(f0_mhz, f0_mhz + drift * t_span / 1e6),
                 probabilities=dict(hit.get("probabilities") or {}))
