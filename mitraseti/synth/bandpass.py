"""Receiver gain across the band: a polyphase-filterbank (PFB) coarse-channel response.

Every coarse channel of ``nfpc`` fine channels has the same power response (a fraction,
1 at the coarse-channel centre):

* a flat top, rolling off near both edges to ``edge_level`` at the coarse-channel edge
  (the PFB prototype filter's transition band, plus the aliased power of the neighbouring
  channel that a critically sampled PFB folds in: Breakthrough Listen GBT data sit at about
  1/3 of the centre, or lower). The roll-off spans ``rolloff`` of the coarse channel on
  each side and is a raised cosine in decibels: ``gain_dB = edge_dB * (1 - sin^2(pi u / 2))``
  with ``u`` the distance from the edge in units of the roll-off width (u >= 1: flat);
* a ripple (scalloping) ``1 + ripple * cos(2 pi ripple_cycles x + ripple_phase)``, with x the
  position in the coarse channel (-0.5 .. 0.5), i.e. a period of ``1 / ripple_cycles`` of
  a coarse channel;
* a per-coarse-channel level scatter (``coarse_scatter``: fractional rms, drawn from
  ``scatter_seed``, so the same receiver gives the same levels in every file);
* a smooth large-scale shape over the whole file: ``1 + slope y + curvature y^2`` with y
  from -1 (first channel) to +1 (last channel).

All are gains of the receiver chain: they multiply noise, signals and RFI alike.
``BANDPASS_FAMILIES`` holds a few shapes; :meth:`Bandpass.random` draws one and jitters it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

MIN_GAIN = 1e-3  # the large-scale shape is clipped here so the gain stays positive


@dataclass(frozen=True)
class Bandpass:
    """Power response of the receiver per fine channel (see the module docstring).

    edge_level: response at the coarse-channel edge relative to its centre (0 < e <= 1).
    rolloff: width of each edge's roll-off, fraction of a coarse channel (0 < r <= 0.5).
    ripple: fractional ripple amplitude (0 <= ripple < 1). ripple_cycles: ripple periods
      per coarse channel. ripple_phase: rad.
    slope, curvature: large-scale gain change at the band ends (fractions: slope 0.1 gives
      0.9 at the first channel and 1.1 at the last).
    coarse_scatter: rms fractional level difference between coarse channels, drawn from
      ``scatter_seed`` (an int).
    nfpc: fine channels per coarse channel; None = the header's nfpc (or the whole file).
    """

    edge_level: float = 0.33
    rolloff: float = 0.08
    ripple: float = 0.0
    ripple_cycles: float = 8.0
    ripple_phase: float = 0.0
    slope: float = 0.0
    curvature: float = 0.0
    coarse_scatter: float = 0.0
    scatter_seed: int = 0
    nfpc: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.edge_level <= 1:
            raise ValueError(f"edge_level: expected 0 < edge_level <= 1, got {self.edge_level}")
        if not 0 < self.rolloff <= 0.5:
            raise ValueError(f"rolloff: expected 0 < rolloff <= 0.5 (coarse channels), got {self.rolloff}")
        if not 0 <= self.ripple < 1:
            raise ValueError(f"ripple: expected 0 <= ripple < 1, got {self.ripple}")
        if self.coarse_scatter < 0:
            raise ValueError(f"coarse_scatter: expected >= 0, got {self.coarse_scatter}")
        if self.nfpc is not None and self.nfpc < 1:
            raise ValueError(f"nfpc: expected >= 1 fine channels, got {self.nfpc}")

    def fine_per_coarse(self, header) -> int:
        """The nfpc used on ``header``: this model's, the header's, or all channels."""
        nfpc = int(self.nfpc or header.nfpc or header.nchans)
        if header.nchans % nfpc:
            raise ValueError(f"nfpc: {nfpc} does not divide nchans = {header.nchans}")
        return nfpc

    def coarse_response(self, nfpc: int) -> np.ndarray:
        """Response of one coarse channel (float64, nfpc values, centre 1 before ripple)."""
        x = (np.arange(nfpc) + 0.5) / nfpc - 0.5
        u = np.minimum((0.5 - np.abs(x)) / self.rolloff, 1.0)
        taper = 1.0 - np.sin(0.5 * np.pi * u) ** 2
        response = self.edge_level ** taper
        if self.ripple:
            response *= 1.0 + self.ripple * np.cos(2 * np.pi * self.ripple_cycles * x + self.ripple_phase)
        return response

    def large_scale(self, n_chans: int) -> np.ndarray:
        """The smooth whole-band gain (float64, n_chans)."""
        if not self.slope and not self.curvature:
            return np.ones(n_chans)
        y = np.linspace(-1.0, 1.0, n_chans) if n_chans > 1 else np.zeros(1)
        return np.maximum(1.0 + self.slope * y + self.curvature * y * y, MIN_GAIN)

    def gain(self, header) -> np.ndarray:
        """Gain per file channel (float64, nchans)."""
        nfpc = self.fine_per_coarse(header)
        n_coarse = header.nchans // nfpc
        levels = np.ones(n_coarse)
        if self.coarse_scatter:
            draws = np.random.default_rng(self.scatter_seed).standard_normal(n_coarse)
            levels = np.maximum(1.0 + self.coarse_scatter * draws, MIN_GAIN)
        per_coarse = self.coarse_response(nfpc)[None, :] * levels[:, None]
        return per_coarse.ravel() * self.large_scale(header.nchans)

    @classmethod
    def random(cls, rng: np.random.Generator, family: str | None = None) -> "Bandpass":
        """A bandpass from ``BANDPASS_FAMILIES`` (``family`` or one drawn at random), its
        edge level, roll-off and ripple jittered by up to +-25 %, a random ripple phase and
        large-scale slope (+-0.15) and curvature (+-0.1), and a scatter seed."""
        names = sorted(BANDPASS_FAMILIES)
        name = family if family is not None else names[int(rng.integers(len(names)))]
        if name not in BANDPASS_FAMILIES:
            raise ValueError(f"family: expected one of {names}, got {name!r}")
        base = BANDPASS_FAMILIES[name]
        jitter = rng.uniform(0.75, 1.25, size=3)
        return replace(base, edge_level=float(min(base.edge_level * jitter[0], 1.0)),
                       rolloff=float(min(base.rolloff * jitter[1], 0.5)),
                       ripple=float(min(base.ripple * jitter[2], 0.5)),
                       ripple_phase=float(rng.uniform(0, 2 * np.pi)),
                       slope=float(rng.uniform(-0.15, 0.15)),
                       curvature=float(rng.uniform(-0.1, 0.1)),
                       scatter_seed=int(rng.integers(2**31)))


BANDPASS_FAMILIES: dict[str, Bandpass] = {
    # GBT-like: edges at a third, narrow roll-off, small scalloping
    "gbt_pfb": Bandpass(edge_level=0.33, rolloff=0.06, ripple=0.01, ripple_cycles=8,
                        coarse_scatter=0.03),
    # steep, deep edges (sharper prototype filter)
    "steep_deep": Bandpass(edge_level=0.12, rolloff=0.03, ripple=0.005, ripple_cycles=16,
                           coarse_scatter=0.05),
    # soft, shallow edges over a wide roll-off, stronger ripple
    "soft": Bandpass(edge_level=0.5, rolloff=0.2, ripple=0.03, ripple_cycles=4,
                     coarse_scatter=0.02),
    # wide, very deep roll-off (edge channels almost empty)
    "wide_deep": Bandpass(edge_level=0.05, rolloff=0.15, ripple=0.015, ripple_cycles=6,
                          coarse_scatter=0.04),
}
