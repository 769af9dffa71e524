"""A dirty receiver: bandpass, DC spikes, broadband RFI and 8-bit requantisation.

``make_observation(..., impairments=Impairments(...))`` builds the total power as a real
spectrometer records it::

    data = G(f) * [ N * (1 + R / m) + S + D ]        then optionally quantised

* N: the noise draw (mean m = ``NoiseModel.mean``), R: broadband RFI power (noise-like,
  so it scales the noise: :mod:`mitraseti.synth.rfi`), S: injected signals, D: DC spikes
  (a coherent tone on the DC bin: its pixel gets mean ``m + D`` and a variance raised by
  ``1 + 2 D / m``, the tone x noise cross term).
* G(f): the receiver gain (:class:`~mitraseti.synth.bandpass.Bandpass`), applied last, to
  everything, as in a real receiver chain.
* Quantisation (:class:`Quantizer`): ``clip(round(scale * data + offset), 0, 255)``.

A multiplicative gain does not change a signal's S/N (noise and signal are scaled alike),
so a signal's truth ``snr`` is its S/N against the LOCAL noise where it sits, whatever the
bandpass. RFI under a signal raises the local noise: the truth's ``local_noise_factor``
says by how much (effective S/N = snr / local_noise_factor); quantisation adds 1/12 LSB^2
of rounding noise and clips.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .bandpass import Bandpass
from .rfi import BroadbandRFI


@dataclass(frozen=True)
class DCSpikes:
    """A spike on the DC bin (fine channel nfpc // 2) of every coarse channel.

    amplitude: power added on the DC bin, in units of the local mean power (the DC pixel's
      mean is ``1 + amplitude`` times its neighbours'). side_fraction: share of that
      amplitude put on each of the two neighbouring channels (0 = a one-channel spike).
    jitter: fractional rms variation of the amplitude from spectrum to spectrum (0 =
      constant). nfpc: fine channels per coarse channel (None = the header's, or all).
    """

    amplitude: float = 10.0
    side_fraction: float = 0.0
    jitter: float = 0.0
    nfpc: int | None = None

    def __post_init__(self) -> None:
        if self.amplitude < 0 or self.side_fraction < 0 or self.jitter < 0:
            raise ValueError(f"DCSpikes: amplitude, side_fraction, jitter must be >= 0, got "
                             f"{self.amplitude}, {self.side_fraction}, {self.jitter}")

    def channels(self, header) -> np.ndarray:
        """File channel of every DC bin."""
        nfpc = int(self.nfpc or header.nfpc or header.nchans)
        return np.arange(header.nchans // nfpc) * nfpc + nfpc // 2

    def add(self, data: np.ndarray, header, mean: float, rng: np.random.Generator) -> list[int]:
        """Add the spikes to ``data`` in place (before the gain); returns the DC channels."""
        dc = self.channels(header)
        n_spectra = data.shape[0]
        curve = np.ones(n_spectra)
        if self.jitter:
            curve = np.maximum(1.0 + self.jitter * rng.standard_normal(n_spectra), 0.0)
        for offset, share in ((0, 1.0), (-1, self.side_fraction), (1, self.side_fraction)):
            cols = dc + offset
            cols = cols[(cols >= 0) & (cols < header.nchans)]
            if not share or cols.size == 0:
                continue
            power = self.amplitude * share * abs(mean) * curve[:, None]
            block = data[:, cols].astype(np.float64)
            if mean > 0:  # coherent tone on noise: mean m + D, fluctuations x sqrt(1 + 2 D / m)
                block = mean + power + (block - mean) * np.sqrt(1.0 + 2.0 * power / mean)
            else:
                block = block + power
            data[:, cols] = block.astype(np.float32)
        return [int(c) for c in dc]

    @classmethod
    def random(cls, rng: np.random.Generator) -> "DCSpikes":
        """Amplitude log-uniform 0.5..50 x the local mean, 1 or 3 channels wide (20 %),
        up to 5 % jitter."""
        wide = rng.random() < 0.2
        return cls(amplitude=float(np.exp(rng.uniform(np.log(0.5), np.log(50.0)))),
                   side_fraction=float(rng.uniform(0.1, 0.5)) if wide else 0.0,
                   jitter=float(rng.uniform(0.0, 0.05)))


@dataclass(frozen=True)
class Quantizer:
    """Requantise to unsigned ``nbits`` integers: ``clip(round(scale * x + offset), 0, top)``.

    target_mean: the level (counts) that the data's median is mapped to.
    target_std: None = proportional scaling (offset 0, zero power stays 0); otherwise the
      robust std (1.4826 x MAD, counts) the data's spread is mapped to, with an offset.
    scale, offset: fix them instead (counts per data unit, counts); override the targets.
    Values stay float32 holding integers; the header gets ``nbits`` so files are written
    as 8-bit samples.
    """

    nbits: int = 8
    target_mean: float = 48.0
    target_std: float | None = None
    scale: float | None = None
    offset: float | None = None

    def __post_init__(self) -> None:
        if self.nbits not in (8, 16):
            raise ValueError(f"nbits: expected 8 or 16, got {self.nbits}")
        if not 0 < self.target_mean < (1 << self.nbits) - 1:
            raise ValueError(f"target_mean: expected inside 0..{(1 << self.nbits) - 1}, got {self.target_mean}")

    def coefficients(self, data: np.ndarray) -> tuple[float, float]:
        """(scale, offset) for ``data``: the fixed ones, or from its median and MAD."""
        if self.scale is not None:
            return float(self.scale), float(self.offset or 0.0)
        sample = data.ravel()[:: max(1, data.size // 1_000_000)].astype(np.float64)
        median = float(np.median(sample))
        if self.target_std is None:
            scale = self.target_mean / median if median > 0 else 1.0
            return scale, float(self.offset or 0.0)
        spread = 1.4826 * float(np.median(np.abs(sample - median)))
        scale = self.target_std / spread if spread > 0 else 1.0
        return scale, self.target_mean - scale * median

    def apply(self, data: np.ndarray) -> tuple[float, float]:
        """Quantise ``data`` in place; returns (scale, offset)."""
        scale, offset = self.coefficients(data)
        data *= np.float32(scale)
        data += np.float32(offset)
        np.rint(data, out=data)
        np.clip(data, 0, (1 << self.nbits) - 1, out=data)
        return scale, offset


@dataclass
class ImpairmentRecord:
    """What the impairments did to one observation (the truth for baseline tests).

    gain: receiver gain per file channel (float64, nchans). dc_channels: DC-bin channels.
    rfi: one dict per broadband interferer (kind, shape, width_hz, frequency_hz,
      freq_lo_hz/freq_hi_hz: its extent over the observation down to 1 % of its peak,
      channel_lo/channel_hi, peak_power (data units before gain), on_spectra, ...).
    quant_scale, quant_offset: the requantisation (None when not quantised).
    """

    gain: np.ndarray
    dc_channels: list[int] = field(default_factory=list)
    rfi: list[dict[str, Any]] = field(default_factory=list)
    quant_scale: float | None = None
    quant_offset: float | None = None


@dataclass
class Impairments:
    """A dirty receiver for :func:`~mitraseti.synth.make_observation` (module docstring).

    bandpass: Bandpass or None. dc_spikes: DCSpikes or None. broadband: BroadbandRFI list.
    quantize: Quantizer or None.
    """

    bandpass: Bandpass | None = None
    dc_spikes: DCSpikes | None = None
    broadband: list[BroadbandRFI] = field(default_factory=list)
    quantize: Quantizer | None = None

    def add_rfi(self, noise_draw: np.ndarray, header, noise, rng: np.random.Generator,
                time_offset_s: float = 0.0) -> tuple[list[dict], np.ndarray]:
        """Scale the noise by ``1 + R / m`` (in place) for every interferer; returns their
        truth records and the noise scale factor per channel averaged over spectra."""
        records, factor = [], np.ones(header.nchans)
        mean = float(noise.mean)
        for rfi in self.broadband:
            lo, power, record = rfi.render(header, noise, rng, time_offset_s)
            records.append(record)
            if power.shape[1] == 0:
                continue
            block = noise_draw[:, lo:lo + power.shape[1]]
            if mean > 0:
                block *= (1.0 + power / mean).astype(np.float32)
                factor[lo:lo + power.shape[1]] *= 1.0 + power.mean(axis=0) / mean
            else:  # zero-mean noise: no radiometer scaling is defined, add the power
                block += power.astype(np.float32)
        return records, factor

    def apply_receiver(self, data: np.ndarray, header, noise, rng: np.random.Generator):
        """DC spikes, then the gain, then quantisation, in place. Returns
        ``(header, gain, dc_channels, quant_scale, quant_offset)``; the header carries
        ``nbits`` when quantised."""
        dc = []
        if self.dc_spikes is not None:
            dc = self.dc_spikes.add(data, header, float(noise.mean), rng)
        gain = np.ones(header.nchans)
        if self.bandpass is not None:
            gain = self.bandpass.gain(header)
            data *= gain.astype(np.float32)[None, :]
        scale = offset = None
        if self.quantize is not None:
            scale, offset = self.quantize.apply(data)
            header = replace(header, nbits=self.quantize.nbits)
        return header, gain, dc, scale, offset

    @classmethod
    def random(cls, rng: np.random.Generator, header, max_broadband: int = 8,
               quantize_probability: float = 0.3, width_range_hz=(500.0, 2e6)) -> "Impairments":
        """A realistic dirty spectrum for ``header``: a bandpass family with jitter
        (always), DC spikes (90 %), 0..``max_broadband`` broadband interferers of FWHM in
        ``width_range_hz``, and 8-bit quantisation with probability ``quantize_probability``
        (median mapped to 16..96 counts)."""
        bandpass = Bandpass.random(rng)
        dc = DCSpikes.random(rng) if rng.random() < 0.9 else None
        n_rfi = int(rng.integers(0, max_broadband + 1))
        broadband = [BroadbandRFI.random(rng, header, width_range_hz) for _ in range(n_rfi)]
        quantize = None
        if rng.random() < quantize_probability:
            quantize = Quantizer(target_mean=float(np.exp(rng.uniform(np.log(16), np.log(96)))))
        return cls(bandpass=bandpass, dc_spikes=dc, broadband=broadband, quantize=quantize)
