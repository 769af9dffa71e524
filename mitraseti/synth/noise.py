"""Background noise and instrument effects of a spectrometer.

A power spectrum averaged over N_avg FFTs follows a scaled chi-square distribution with
``dof = 2 * N_avg`` degrees of freedom (4 * N_avg for Stokes I of two polarisations): mean
``mean``, variance ``mean**2 * 2 / dof``. Instrument effects, all optional:

* bandpass: polyphase-filterbank roll-off inside every coarse channel: power response
  ``1 / (1 + (2|x|)^(2 n))`` with x the position in the coarse channel (-0.5..0.5), half
  power at the coarse-channel edges (where neighbouring PFB channels cross at -3 dB),
  times a ripple ``1 + ripple * cos(2 pi ripple_cycles x)``;
* dc_spike: the DC bin (nfpc // 2) of every coarse channel multiplied by ``1 + dc_spike``;
* gain_drift: a linear gain ramp from ``1 - g/2`` to ``1 + g/2`` across the observation;
* impulses: broadband flashes, each in one spectrum, over a random run of channels,
  ``impulse_snr`` pixel standard deviations high.

The multiplicative effects apply to noise and signals alike (they are in the receiver
chain), so the S/N of an injected signal does not depend on them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOISE_KINDS = ("chi2", "gaussian", "none")


@dataclass
class NoiseModel:
    """How the background of a synthetic observation is drawn.

    kind: "chi2" (spectrometer-like), "gaussian", or "none" (a constant ``mean``; S/N
      scaling still uses the chi2 pixel std, so templates match noisy renderings).
    mean: mean power per pixel (data units).
    dof: chi-square degrees of freedom, 2 * N_avg (2..1000).
    std: gaussian std; None = the chi2 std for ``dof`` (mean * sqrt(2 / dof)).
    """

    kind: str = "chi2"
    mean: float = 1.0
    dof: int = 16
    std: float | None = None
    bandpass: bool = False
    bandpass_order: int = 16
    ripple: float = 0.0
    ripple_cycles: float = 4.0
    dc_spike: float = 0.0
    gain_drift: float = 0.0
    impulses: int = 0
    impulse_snr: float = 20.0

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"NoiseModel.kind: expected one of {NOISE_KINDS}, got {self.kind!r}")
        if int(self.dof) < 1:
            raise ValueError(f"NoiseModel.dof: expected >= 1, got {self.dof}")
        self.dof = int(self.dof)
        if self.mean <= 0 and self.kind == "chi2":
            raise ValueError(f"NoiseModel.mean: expected > 0 for chi2 noise, got {self.mean}")

    @property
    def pixel_std(self) -> float:
        """Standard deviation of one noise pixel before instrument effects (data units)."""
        if self.kind == "gaussian" and self.std is not None:
            return float(self.std)
        return float(abs(self.mean) * np.sqrt(2.0 / self.dof))

    def draw(self, n_spectra: int, n_chans: int, rng: np.random.Generator) -> np.ndarray:
        """The noise background, float32 (n_spectra, n_chans)."""
        shape = (n_spectra, n_chans)
        if self.kind == "chi2":
            out = rng.standard_gamma(self.dof / 2.0, size=shape, dtype=np.float32)
            out *= np.float32(2.0 * self.mean / self.dof)
            return out
        if self.kind == "gaussian":
            out = rng.standard_normal(size=shape, dtype=np.float32)
            out *= np.float32(self.pixel_std)
            out += np.float32(self.mean)
            return out
        return np.full(shape, self.mean, dtype=np.float32)

    def bandpass_shape(self, n_chans: int, nfpc: int) -> np.ndarray:
        """Power response per fine channel (float64, n_chans); ones when bandpass is off."""
        if not self.bandpass and self.ripple == 0:
            return np.ones(n_chans)
        x = (np.arange(n_chans) % nfpc + 0.5) / nfpc - 0.5
        shape = np.ones(n_chans)
        if self.bandpass:
            shape /= 1.0 + (2.0 * np.abs(x)) ** (2 * self.bandpass_order)
        if self.ripple:
            shape *= 1.0 + self.ripple * np.cos(2 * np.pi * self.ripple_cycles * x)
        return shape

    def gain_curve(self, n_spectra: int) -> np.ndarray:
        """Gain per spectrum (float64, n_spectra); ones without gain drift."""
        if not self.gain_drift or n_spectra < 2:
            return np.ones(n_spectra)
        return 1.0 + self.gain_drift * (np.arange(n_spectra) / (n_spectra - 1) - 0.5)

    def apply_instrument(self, data: np.ndarray, nfpc: int, rng: np.random.Generator) -> None:
        """Apply bandpass, DC spikes, gain drift and impulses to ``data`` in place."""
        n_spectra, n_chans = data.shape
        if self.bandpass or self.ripple:
            data *= self.bandpass_shape(n_chans, nfpc).astype(np.float32)[None, :]
        if self.dc_spike:
            data[:, nfpc // 2::nfpc] *= np.float32(1.0 + self.dc_spike)
        if self.gain_drift:
            data *= self.gain_curve(n_spectra).astype(np.float32)[:, None]
        for _ in range(int(self.impulses)):
            i = int(rng.integers(n_spectra))
            width = int(rng.integers(1, max(2, n_chans // 8) + 1))
            start = int(rng.integers(0, n_chans - width + 1))
            data[i, start:start + width] += np.float32(self.impulse_snr * self.pixel_std)
