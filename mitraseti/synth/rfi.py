"""Broadband interference (RFI) that is noise-like: it raises the mean AND the variance.

A noise-like interferer of power R (per pixel) adds to the system noise of mean power m,
so the pixel becomes the same chi-square variable with mean ``m + R``: the noise draw is
multiplied by ``1 + R / m`` (radiometer equation: the fluctuations follow the total power).
Unlike :class:`~mitraseti.synth.signals.BroadbandSignal` (a deterministic power added on
top of the noise), this is what a wideband transmitter, a radar or a switching supply
looks like in a spectrometer.

Shapes (``width_hz`` is always the full width at half maximum, Hz):

* "box": flat with sharp edges, full width ``width_hz``;
* "tapered": flat top with raised-cosine edges, each edge ``width_hz / 4`` wide, centred on
  the half-power points;
* "gaussian": Gaussian of FWHM ``width_hz``;
* "asymmetric": a sharp edge on the low-frequency side (``skew = +1``; the high side with
  ``skew = -1``), then a half-Gaussian fall to half power ``width_hz`` away.

Time behaviour (combine freely): ``on_fraction`` < 1 switches the interferer on and off in
runs of whole spectra (mean on-run ``burst_spectra`` spectra), ``drift_rate`` (Hz/s) moves
it slowly, ``modulation`` varies its amplitude as ``1 + modulation * sin(2 pi t / period +
phase)``. Frequency smearing within one spectrum is neglected (slow drifts only).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._units import to_float, to_optional_float
from .signals import spectrum_times

RFI_SHAPES = ("box", "tapered", "gaussian", "asymmetric")
AMPLITUDE_UNITS = ("mean", "sigma")
_LN2 = np.log(2.0)


def rfi_profile(offset_hz: np.ndarray, shape: str, width_hz: float, skew: int = 1) -> np.ndarray:
    """Relative power (peak 1) at ``offset_hz`` from the feature's centre (Hz).

    For "asymmetric" the centre is the middle of the half-power span: the sharp edge sits
    at ``-skew * width_hz / 2``.
    """
    u = np.asarray(offset_hz, dtype=float) / width_hz  # in FWHMs
    if shape == "box":
        return (np.abs(u) <= 0.5).astype(float)
    if shape == "tapered":
        edge = 0.25  # taper width, FWHMs; 0.5 at |u| = 0.5
        v = np.clip((np.abs(u) - (0.5 - 0.5 * edge)) / edge, 0.0, 1.0)
        return np.cos(0.5 * np.pi * v) ** 2
    if shape == "gaussian":
        return np.exp(-4.0 * _LN2 * u * u)
    if shape == "asymmetric":
        d = skew * u + 0.5  # distance from the sharp edge, FWHMs
        return np.where(d >= 0, np.exp(-_LN2 * d * d), 0.0)
    raise ValueError(f"shape: expected one of {RFI_SHAPES}, got {shape!r}")


def profile_extent_hz(shape: str, width_hz: float, skew: int = 1,
                      floor: float = 0.01) -> tuple[float, float]:
    """(low, high) offsets from the centre, Hz, outside which the profile is below ``floor``."""
    if shape == "box":
        half = 0.5
        lo, hi = -half, half
    elif shape == "tapered":
        lo, hi = -0.625, 0.625
    elif shape == "gaussian":
        half = np.sqrt(np.log(1.0 / floor) / (4.0 * _LN2))
        lo, hi = -half, half
    elif shape == "asymmetric":
        far = np.sqrt(np.log(1.0 / floor) / _LN2) - 0.5
        lo, hi = (-0.5, far) if skew > 0 else (-far, 0.5)
    else:
        raise ValueError(f"shape: expected one of {RFI_SHAPES}, got {shape!r}")
    return float(lo * width_hz), float(hi * width_hz)


def on_off_pattern(n_spectra: int, on_fraction: float, burst_spectra: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Boolean per spectrum: alternating on/off runs with geometric lengths, mean on-run
    ``burst_spectra`` and mean off-run chosen so the long-run on fraction is ``on_fraction``.
    At least one spectrum is on."""
    if on_fraction >= 1:
        return np.ones(n_spectra, dtype=bool)
    mean_on = max(float(burst_spectra), 1.0)
    mean_off = max(mean_on * (1.0 - on_fraction) / max(on_fraction, 1e-6), 1.0)
    out = np.zeros(n_spectra, dtype=bool)
    state, i = bool(rng.random() < on_fraction), 0
    while i < n_spectra:
        run = int(rng.geometric(1.0 / (mean_on if state else mean_off)))
        out[i:i + run] = state
        i += run
        state = not state
    if not out.any():
        out[int(rng.integers(n_spectra))] = True
    return out


@dataclass
class BroadbandRFI:
    """One broadband interferer (module docstring).

    frequency: centre at t = 0, Hz (or ``channel``: fractional file channel at t = 0).
    width_hz: FWHM, Hz (>= 1 channel; docs/signals.md's broadband starts at 500 Hz).
    amplitude: peak power per pixel, in units of the mean noise power (``unit="mean"``)
      or of the noise pixel std (``unit="sigma"``), before the receiver gain.
    shape: one of RFI_SHAPES; skew: +1 sharp low-frequency edge, -1 sharp high edge.
    drift_rate: Hz/s. on_fraction: long-run fraction of spectra on (1 = continuous);
    burst_spectra: mean on-run length (spectra). modulation: fractional amplitude
    variation (0..1), modulation_period_s (s), modulation_phase (rad).
    """

    frequency: Any = None
    channel: float | None = None
    width_hz: Any = 5000.0
    amplitude: float = 1.0
    unit: str = "mean"
    shape: str = "box"
    skew: int = 1
    drift_rate: Any = 0.0
    on_fraction: float = 1.0
    burst_spectra: float = 2.0
    modulation: float = 0.0
    modulation_period_s: Any = 100.0
    modulation_phase: float = 0.0

    def __post_init__(self) -> None:
        self.frequency = to_optional_float(self.frequency, "Hz", "frequency")
        self.channel = None if self.channel is None else float(self.channel)
        if self.frequency is None and self.channel is None:
            raise ValueError("BroadbandRFI: give frequency (Hz) or channel")
        self.width_hz = to_float(self.width_hz, "Hz", "width_hz")
        self.drift_rate = to_float(self.drift_rate, "Hz/s", "drift_rate")
        self.modulation_period_s = to_float(self.modulation_period_s, "s", "modulation_period_s")
        if self.width_hz <= 0:
            raise ValueError(f"width_hz: expected > 0 Hz, got {self.width_hz}")
        if self.amplitude < 0:
            raise ValueError(f"amplitude: expected >= 0, got {self.amplitude}")
        if self.unit not in AMPLITUDE_UNITS:
            raise ValueError(f"unit: expected one of {AMPLITUDE_UNITS}, got {self.unit!r}")
        if self.shape not in RFI_SHAPES:
            raise ValueError(f"shape: expected one of {RFI_SHAPES}, got {self.shape!r}")
        if self.skew not in (1, -1):
            raise ValueError(f"skew: expected +1 or -1, got {self.skew}")
        if not 0 < self.on_fraction <= 1:
            raise ValueError(f"on_fraction: expected in (0, 1], got {self.on_fraction}")
        if not 0 <= self.modulation <= 1:
            raise ValueError(f"modulation: expected in [0, 1], got {self.modulation}")
        if self.modulation_period_s <= 0:
            raise ValueError(f"modulation_period_s: expected > 0 s, got {self.modulation_period_s}")

    def centre_hz(self, header) -> float:
        """Centre frequency at t = 0, Hz."""
        return self.frequency if self.frequency is not None else header.channel_frequency_hz(self.channel)

    def peak_power(self, noise) -> float:
        """Peak power per pixel in data units (before the receiver gain)."""
        return self.amplitude * (noise.mean if self.unit == "mean" else noise.pixel_std)

    def amplitude_curve(self, t: np.ndarray) -> np.ndarray:
        """Relative amplitude per spectrum at times ``t`` (s), before on/off switching."""
        if not self.modulation:
            return np.ones(np.shape(t))
        w = 2 * np.pi / self.modulation_period_s
        return 1.0 + self.modulation * np.sin(w * np.asarray(t, dtype=float) + self.modulation_phase)

    def render(self, header, noise, rng: np.random.Generator, time_offset_s: float = 0.0):
        """The interferer's power (data units) on ``header``'s grid.

        Returns ``(lo, power, record)``: ``power`` (n_spectra, n) covers file channels
        ``lo .. lo + n - 1`` (empty when it misses the band); ``record`` is its truth dict.
        """
        t = spectrum_times(header, time_offset_s)
        centres = self.centre_hz(header) + self.drift_rate * t  # Hz, per spectrum
        lo_off, hi_off = profile_extent_hz(self.shape, self.width_hz, self.skew)
        f_lo, f_hi = centres.min() + lo_off, centres.max() + hi_off
        ch = sorted(((f_lo / 1e6 - header.fch1) / header.foff, (f_hi / 1e6 - header.fch1) / header.foff))
        lo = int(np.clip(np.floor(ch[0]), 0, header.nchans))
        hi = int(np.clip(np.ceil(ch[1]) + 1, lo, header.nchans))
        chan_hz = header.channel_frequency_hz(np.arange(lo, hi))
        weight = self.amplitude_curve(t) * on_off_pattern(header.n_spectra, self.on_fraction,
                                                          self.burst_spectra, rng)
        offsets = chan_hz[None, :] - centres[:, None]
        power = self.peak_power(noise) * weight[:, None] * rfi_profile(offsets, self.shape,
                                                                       self.width_hz, self.skew)
        record = {"kind": "broadband_rfi", "shape": self.shape, "width_hz": self.width_hz,
                  "frequency_hz": float(centres[0]), "drift_rate": self.drift_rate,
                  "freq_lo_hz": float(f_lo), "freq_hi_hz": float(f_hi),
                  "channel_lo": lo, "channel_hi": hi - 1,
                  "peak_power": self.peak_power(noise), "amplitude": self.amplitude,
                  "unit": self.unit, "on_spectra": [int(i) for i in np.flatnonzero(weight > 0)],
                  "modulation": self.modulation}
        return lo, power, record

    @classmethod
    def random(cls, rng: np.random.Generator, header, width_range_hz=(500.0, 2e6),
               amplitude_range=(0.05, 5.0)) -> "BroadbandRFI":
        """A random interferer inside ``header``'s band: FWHM log-uniform in
        ``width_range_hz`` (capped at a quarter of the band), peak log-uniform in
        ``amplitude_range`` (units of the mean power), random shape and time behaviour
        (continuous 40 %, intermittent 25 %, drifting 15 %, amplitude-varying 20 %)."""
        band = header.nchans * header.df_hz
        w_lo = max(float(width_range_hz[0]), header.df_hz)
        w_hi = max(min(float(width_range_hz[1]), 0.25 * band), w_lo)
        width = float(np.exp(rng.uniform(np.log(w_lo), np.log(w_hi))))
        a_lo, a_hi = amplitude_range
        amplitude = float(np.exp(rng.uniform(np.log(a_lo), np.log(a_hi))))
        shape = str(rng.choice(RFI_SHAPES))
        margin = min(0.5 * width / header.df_hz, 0.25 * header.nchans)
        channel = float(rng.uniform(margin, header.nchans - 1 - margin))
        kw: dict[str, Any] = {}
        behaviour = rng.choice(["continuous", "intermittent", "drifting", "varying"],
                               p=[0.4, 0.25, 0.15, 0.2])
        span = max(header.obs_length_s, header.dt_s)
        if behaviour == "intermittent":
            kw.update(on_fraction=float(rng.uniform(0.2, 0.7)), burst_spectra=float(rng.uniform(1, 4)))
        elif behaviour == "drifting":  # moves by 0.1 .. 1 FWHM over the observation
            kw.update(drift_rate=float(rng.uniform(0.1, 1.0) * width / span * rng.choice([-1, 1])))
        elif behaviour == "varying":
            kw.update(modulation=float(rng.uniform(0.2, 0.9)),
                      modulation_period_s=float(span * rng.uniform(0.3, 2.0)),
                      modulation_phase=float(rng.uniform(0, 2 * np.pi)))
        return cls(channel=channel, width_hz=width, amplitude=amplitude, shape=shape,
                   skew=int(rng.choice([-1, 1])), **kw)
