"""A small generated observation (2 coarse channels x 2048 fine, 16 spectra) with known
signals, written once per module as a real .fil file."""
from __future__ import annotations

import pytest

from mitraseti.synth import NarrowbandSignal, make_observation

NFPC = 2048
N_COARSE = 2
# (channel at t = 0, drift Hz/s, S/N): each away from the DC bin (1024) and the edges
SIGNALS = [(400.3, 0.8, 40.0), (1500.3, -1.5, 50.0), (2600.3, 0.0, 60.0)]


@pytest.fixture(scope="module")
def small_obs(tmp_path_factory):
    """(path, SyntheticObservation); the .fil file does not record nfpc: pass
    n_coarse_chan = header.nchans // header.nfpc."""
    synth = make_observation(
        n_spectra=16, n_chans=N_COARSE * NFPC, n_coarse_chan=N_COARSE, seed=11,
        signals=[NarrowbandSignal(channel=c, drift_rate=d, snr=s) for c, d, s in SIGNALS],
        source_name="PIPE_TEST", telescope_id=6, src_raj=53000.0, src_dej=451500.0)
    path = synth.write(tmp_path_factory.mktemp("obs") / "small.fil")
    return path, synth
