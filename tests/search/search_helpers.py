"""Helpers for the search tests: small generated data (real files: the ``real_file``
fixture of tests/conftest.py)."""
from __future__ import annotations

import numpy as np

from mitraseti.io.header import ObservationHeader
from mitraseti.synth import make_header as synth_header
from mitraseti.synth.observation import VOYAGER_DF_HZ, VOYAGER_DT_S


def make_header(n_spectra=16, nchans=1024, df_hz=VOYAGER_DF_HZ, dt_s=VOYAGER_DT_S,
                fch1=8421.0, foff_sign=-1, nfpc=0) -> ObservationHeader:
    """:func:`mitraseti.synth.make_header` under the search tests' names; ``nfpc`` 0 (the
    default) leaves the channelisation to the search."""
    return synth_header(n_spectra, nchans, df_hz, dt_s, fch1, foff_sign, tstart=60123.5,
                        source_name="test", n_coarse_chan=nchans // nfpc if nfpc else None)


def noise(shape, seed=0, mean=10.0, std=1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (mean + std * rng.standard_normal(shape)).astype(np.float32)


def inject(data: np.ndarray, channel: float, slope: float, level: float,
           smear: bool = False) -> None:
    """Add a tone starting at ``channel`` (t = 0, centre of spectrum 0), moving ``slope``
    channels per spectrum, ``level`` power per spectrum. ``smear``: spread each spectrum's
    power uniformly over the |slope| channels the tone crosses during that spectrum."""
    n_t, n_c = data.shape
    for t in range(n_t):
        centre = channel + slope * t
        if not smear or abs(slope) <= 1:
            c = int(np.floor(centre + 0.5))
            if 0 <= c < n_c:
                data[t, c] += level
            continue
        lo, hi = centre - abs(slope) / 2, centre + abs(slope) / 2
        for c in range(int(np.floor(lo + 0.5)), int(np.floor(hi + 0.5)) + 1):
            overlap = min(hi, c + 0.5) - max(lo, c - 0.5)
            if overlap > 0 and 0 <= c < n_c:
                data[t, c] += level * overlap / abs(slope)
