"""NOISE-like artifacts (docs/signals.md rule 1), injectable like signals so the classifier can
learn NOISE: an impulsive spike (power in 2 or fewer spectra), a single hot pixel, and a
persistent spike on a coarse channel's DC bin."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mitraseti.taxonomy import SignalClass

from .signals import Signal


@dataclass
class ImpulsiveSpike(Signal):
    """Power in only the listed spectra (indices within the file, at most 2), any width.

    ``spectra``: tuple of 1 or 2 spectrum indices. A wide ``width`` gives a broadband
    flash; ``width=0`` a spike confined to one channel.
    """

    spectra: tuple[int, ...] = (0,)
    width: float = 0.0
    drift_rate: float = 0.0

    kind: ClassVar[str] = "impulse"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.spectra = tuple(int(i) for i in self.spectra)
        if not 1 <= len(self.spectra) <= 2:
            raise ValueError(f"spectra: expected 1 or 2 spectrum indices, got {self.spectra}")

    def envelope(self, t, dt):
        env = np.zeros(np.shape(t), dtype=float)
        for i in self.spectra:
            if 0 <= i < env.size:
                env[i] = 1.0
        return env

    def label_for(self, header, time_offset_s=0.0):
        return SignalClass.NOISE.value

    def extra_params(self):
        return {"spectra": list(self.spectra)}


@dataclass
class HotPixel(ImpulsiveSpike):
    """One bright pixel: all power in one channel of one spectrum (``spectrum`` index)."""

    spectrum: int = 0
    width: float = 0.0

    kind: ClassVar[str] = "hot_pixel"

    def __post_init__(self) -> None:
        self.spectra = (int(self.spectrum),)
        if self.channel is not None:
            self.channel = float(round(self.channel))  # centred on a channel: one pixel
        super().__post_init__()
        if self.width != 0:
            raise ValueError(f"HotPixel width: expected 0 Hz (one pixel), got {self.width}")


@dataclass
class DCSpike(Signal):
    """A stationary spike on the DC bin (fine channel nfpc // 2) of coarse channel
    ``coarse_channel``: the FFT's DC artifact present in every spectrum. The frequency is
    taken from the header (``frequency``/``channel`` are ignored)."""

    coarse_channel: int = 0
    width: float = 0.0
    drift_rate: float = 0.0

    kind: ClassVar[str] = "dc_spike"
    needs_position: ClassVar[bool] = False

    def dc_channel(self, header) -> int:
        """File channel index of the DC bin of ``coarse_channel``."""
        nfpc = header.nfpc or header.nchans
        n_coarse = max(header.nchans // nfpc, 1)
        if not 0 <= self.coarse_channel < n_coarse:
            raise ValueError(f"coarse_channel: expected 0..{n_coarse - 1}, got {self.coarse_channel}")
        return int(self.coarse_channel * nfpc + nfpc // 2)

    def start_frequency_hz(self, header):
        return header.channel_frequency_hz(self.dc_channel(header))

    def label_for(self, header, time_offset_s=0.0):
        return SignalClass.NOISE.value

    def extra_params(self):
        return {"coarse_channel": int(self.coarse_channel)}
