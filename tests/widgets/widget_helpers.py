"""Helpers for the widget tests: small generated observations and a read-counting observation."""
from __future__ import annotations


import numpy as np
from mitraseti.io.header import ObservationHeader
from mitraseti.synth import make_header as synth_header
from mitraseti.synth.observation import VOYAGER_DF_HZ, VOYAGER_DT_S



class CountingObservation:
    """A real in-memory observation that records every window read through it."""

    def __init__(self, header: ObservationHeader, data: np.ndarray, nfpc: int | None = None):
        self.header = header
        self.data = data
        self.nfpc = nfpc or header.nchans
        self.n_coarse_channels = header.nchans // self.nfpc
        self.reads: list[tuple[int, int, int, int]] = []

    def read(self, t0, t1, c0, c1):
        self.reads.append((t0, t1, c0, c1))
        return self.data[t0:t1, c0:c1]

    def close(self):
        pass


def make_header(nchans: int, n_spectra: int, foff_hz: float = -VOYAGER_DF_HZ,
                tsamp: float = VOYAGER_DT_S, nfpc: int = 0) -> ObservationHeader:
    """:func:`mitraseti.synth.make_header` with foff in Hz (signed) and ``nfpc``."""
    return synth_header(n_spectra, nchans, abs(foff_hz), tsamp, 8421.38671875,
                        1 if foff_hz > 0 else -1, source_name="test",
                        n_coarse_chan=nchans // nfpc if nfpc else None)


def drifting_line(header: ObservationHeader, start_channel: int, channels_per_spectrum: int,
                  level: float = 40.0, seed: int = 0) -> np.ndarray:
    """Gaussian noise (mean 10, sigma 1) with a one-channel line moving
    ``channels_per_spectrum`` file channels per spectrum."""
    rng = np.random.default_rng(seed)
    data = rng.normal(10.0, 1.0, (header.n_spectra, header.nchans)).astype(np.float32)
    for i in range(header.n_spectra):
        data[i, start_channel + channels_per_spectrum * i] += level
    return data


def drift_of(header: ObservationHeader, channels_per_spectrum: int) -> float:
    """Drift rate (Hz/s, positive = frequency rising) of such a line."""
    return channels_per_spectrum * header.foff * 1e6 / header.tsamp
