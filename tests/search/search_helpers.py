"""Helpers for the search tests: small generated data, real-file locations."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mitraseti.io.header import ObservationHeader

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"


def real_file(name: str) -> Path:
    """Path of a shared real-data file; skips the test when it is absent."""
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real data file missing: {path}")
    return path


def make_header(n_spectra=16, nchans=1024, df_hz=2.7939677238464355, dt_s=18.253611008,
                fch1=8421.0, foff_sign=-1, nfpc=0) -> ObservationHeader:
    return ObservationHeader(nchans=nchans, fch1=fch1, foff=foff_sign * df_hz / 1e6,
                             tsamp=dt_s, n_spectra=n_spectra, tstart=60123.5, nfpc=nfpc,
                             source_name="test")


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
