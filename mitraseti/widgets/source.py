"""A uniform, display-oriented view of an observation for the waterfall explorer.

The explorer works in *display columns*: within one coarse channel, column 0 is the lowest
frequency and columns rise in frequency whatever the sign of ``foff``. This module maps
display windows to file channels and reads only the requested window.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mitraseti.io.header import ObservationHeader


class ArrayObservation:
    """An in-memory observation with the ``Observation.read`` interface.

    ``data`` is ``(n_spectra, nchans)`` or ``(n_spectra, nifs, nchans)`` (IF 0 is used).
    """

    def __init__(self, header: ObservationHeader, data: np.ndarray, n_coarse_chan=None):
        arr = np.asarray(data)
        if arr.ndim == 3:
            arr = arr[:, 0, :]
        if arr.ndim != 2:
            raise ValueError(f"observation data must be (n_spectra, nchans) or "
                             f"(n_spectra, nifs, nchans), got shape {arr.shape}")
        if arr.shape[1] != header.nchans:
            raise ValueError(f"data has {arr.shape[1]} channels but header.nchans is "
                             f"{header.nchans}")
        self.path = None
        self.header = header
        self.data = arr.astype(np.float32, copy=False)
        nchans = arr.shape[1]
        if n_coarse_chan:
            nfpc = nchans // int(n_coarse_chan)
        elif header.nfpc and nchans % header.nfpc == 0:
            nfpc = header.nfpc
        else:
            nfpc = nchans
        self.nfpc = int(nfpc)
        self.n_coarse_channels = max(1, nchans // self.nfpc)

    def read(self, t0: int, t1: int, c0: int, c1: int) -> np.ndarray:
        return self.data[t0:t1, c0:c1]

    def coarse_channel(self, i: int) -> np.ndarray:
        return self.data[:, i * self.nfpc:(i + 1) * self.nfpc]

    def close(self) -> None:
        pass


def as_observation(obj: Any) -> tuple[Any, bool]:
    """Return ``(observation, owned)`` for a path, an ``Observation``-like object or a
    ``(header, array)`` pair. ``owned`` is True when we opened it and must close it."""
    if isinstance(obj, (str, os.PathLike)):
        from mitraseti.io import open_observation  # the io room's reader
        return open_observation(Path(obj)), True
    if isinstance(obj, tuple) and len(obj) == 2:
        header, data = obj
        if not isinstance(header, ObservationHeader):
            raise TypeError("a (header, array) pair needs an ObservationHeader first, got "
                            f"{type(header).__name__}")
        return ArrayObservation(header, data), False
    if hasattr(obj, "header") and hasattr(obj, "data") and not hasattr(obj, "read"):
        # e.g. mitraseti.synth.SyntheticObservation(header, data, truth)
        return ArrayObservation(obj.header, obj.data), False
    if hasattr(obj, "read") and hasattr(obj, "header"):
        return obj, False
    raise TypeError("WaterfallExplorer needs a file path, an Observation, or a (header, "
                    f"array) pair; got {type(obj).__name__}")


class DisplayView:
    """Display-column access to one observation (frequency rising left to right)."""

    def __init__(self, obs: Any):
        self.obs = obs
        self.header: ObservationHeader = obs.header
        self.nfpc = int(getattr(obs, "nfpc", 0) or self.header.nchans)
        self.n_coarse_channels = int(getattr(obs, "n_coarse_channels", 0)
                                     or max(1, self.header.nchans // self.nfpc))
        self.n_spectra = int(self.header.n_spectra)
        self.df_mhz = abs(self.header.foff)
        self.dt_s = float(self.header.tsamp)

    # ---- coordinates --------------------------------------------------------------
    def f_lo_mhz(self, cc: int) -> float:
        """Centre frequency (MHz) of display column 0 of coarse channel ``cc``."""
        h = self.header
        first, last = cc * self.nfpc, (cc + 1) * self.nfpc - 1
        return min(h.fch1 + first * h.foff, h.fch1 + last * h.foff)

    def column_of(self, cc: int, freq_mhz: float) -> float:
        """Fractional display column of a frequency (MHz) in coarse channel ``cc``."""
        return (freq_mhz - self.f_lo_mhz(cc)) / self.df_mhz

    def coarse_channel_of(self, freq_mhz: float) -> int:
        """Coarse channel holding a frequency (MHz), clamped to the file."""
        k = round((freq_mhz - self.header.fch1) / self.header.foff)
        return int(min(max(k // self.nfpc, 0), self.n_coarse_channels - 1))

    # ---- reading ------------------------------------------------------------------
    def read(self, cc: int, t0: int, t1: int, u0: int, u1: int) -> np.ndarray:
        """Spectra ``t0:t1``, display columns ``u0:u1`` of coarse channel ``cc``, float32.

        Columns outside the coarse channel are NaN (so de-drifting can pad)."""
        t0, t1 = max(0, int(t0)), min(self.n_spectra, int(t1))
        u0, u1 = int(u0), int(u1)
        out = np.full((max(t1 - t0, 0), max(u1 - u0, 0)), np.nan, dtype=np.float32)
        a, b = max(u0, 0), min(u1, self.nfpc)
        if b <= a or t1 <= t0:
            return out
        base = cc * self.nfpc
        if self.header.foff >= 0:
            block = self.obs.read(t0, t1, base + a, base + b)
        else:
            block = self.obs.read(t0, t1, base + self.nfpc - b, base + self.nfpc - a)[:, ::-1]
        out[:, a - u0:b - u0] = np.asarray(block, dtype=np.float32)
        return out
