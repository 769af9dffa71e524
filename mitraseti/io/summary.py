"""Derived views of a header: channel frequencies and a short text summary."""
from __future__ import annotations

import numpy as np

from .header import ObservationHeader


def frequencies_hz(header: ObservationHeader, c0: int = 0, c1: int | None = None) -> np.ndarray:
    """float64 centre frequencies in Hz of file channels c0 .. c1-1 (default: all).

    Channel i is at ``(fch1 + i * foff) * 1e6`` Hz; decreasing when foff < 0.
    """
    c1 = header.nchans if c1 is None else c1
    if not 0 <= c0 <= c1 <= header.nchans:
        raise ValueError(f"channel range c0={c0}, c1={c1} is outside 0..{header.nchans}")
    return (header.fch1 + np.arange(c0, c1, dtype=np.float64) * header.foff) * 1e6


def describe(header: ObservationHeader) -> str:
    """A few lines summarising an observation (used by ``mitraseti info``)."""
    h = header
    f = frequencies_hz(h, 0, h.nchans)
    lo, hi = float(f.min()) / 1e6, float(f.max()) / 1e6
    coarse = (f"{h.nchans // h.nfpc} coarse x {h.nfpc} fine channels" if h.nfpc
              else "coarse channels unknown")
    lines = [
        f"source       {h.source_name.strip()}",
        f"telescope    {h.telescope} (id {h.telescope_id}), machine id {h.machine_id}",
        f"start        MJD {h.tstart:.6f}",
        f"pointing     RA {h.ra_deg:.5f} deg, Dec {h.dec_deg:.5f} deg",
        f"band         {lo:.6f} .. {hi:.6f} MHz, fch1 {h.fch1:.6f} MHz, "
        f"foff {h.foff * 1e6:+.6g} Hz",
        f"channels     {h.nchans} ({coarse}), {h.nbits}-bit, {h.nifs} IF(s)",
        f"time         {h.n_spectra} spectra x {h.tsamp:.6g} s = {h.obs_length_s:.6g} s",
        f"drift res.   {h.drift_resolution:.6g} Hz/s",
    ]
    return "\n".join(lines)
