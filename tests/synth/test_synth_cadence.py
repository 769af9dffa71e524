"""ABACAD cadences: layout, presence of signals per file, drift carried between files."""
import numpy as np
import pytest

from mitraseti.synth import NarrowbandSignal, NoiseModel, PulsedSignal, make_cadence

NOISE = NoiseModel(kind="gaussian", mean=0.0, std=1.0)


def _cadence():
    signals = [NarrowbandSignal(channel=300.0, drift_rate=-0.05, width=0.0, snr=100),  # ONs only
               NarrowbandSignal(channel=1500.0, drift_rate=0.0, width=0.0, snr=100),  # all six
               NarrowbandSignal(channel=2500.0, drift_rate=0.0, width=0.0, snr=100),  # first ON
               PulsedSignal(channel=3500.0, period=60.0, snr=100)]  # files 1 and 4
    return signals, make_cadence(signals, presence=["on", "all", "first_on", [1, 4]], gap_s=40.0,
                                 seed=3, n_chans=4096, noise=NOISE, source_name="HIP1234")


def test_layout_names_times_and_grid():
    _, cad = _cadence()
    obs = cad.observations
    assert len(obs) == 6 and cad.on_indices == (0, 2, 4) and cad.off_indices == (1, 3, 5)
    assert [o.header.source_name for o in obs[::2]] == ["HIP1234"] * 3
    assert len({o.header.source_name for o in obs[1::2]} | {"HIP1234"}) == 4
    step = obs[0].header.obs_length_s + 40.0
    for k, o in enumerate(obs):
        assert (o.header.tstart - obs[0].header.tstart) * 86400 == pytest.approx(k * step, abs=1e-3)
        assert (o.header.fch1, o.header.foff, o.header.nchans) == (
            obs[0].header.fch1, obs[0].header.foff, obs[0].header.nchans)
    assert cad.file_offsets_s == pytest.approx([k * step for k in range(6)])


def test_signals_appear_only_in_their_files_and_follow_their_drift():
    signals, cad = _cadence()
    present = [sorted(t.index for t in o.truth) for o in cad.observations]
    assert present == [[0, 1, 2], [1, 3], [0, 1], [1], [0, 1, 3], [1]]
    h0 = cad.observations[0].header
    step = h0.obs_length_s + 40.0
    f0 = cad.observations[0].truth[0].frequency_hz
    for k in (0, 2, 4):
        obs = cad.observations[k]
        truth = next(t for t in obs.truth if t.index == 0)
        assert truth.frequency_hz == pytest.approx(f0 - 0.05 * k * step, abs=1e-3)
        expected = (truth.frequency_hz / 1e6 - h0.fch1) / h0.foff
        first = obs.data[0]  # the first spectrum of the file
        lo = int(expected) - 20
        assert abs(lo + np.argmax(first[lo:lo + 40]) - expected) <= 1.0
    # where a signal is absent the data at its channel is plain noise
    for k in (1, 3, 5):
        col = cad.observations[k].data[:, 300 - 40:301]
        assert col.sum(axis=0).max() < 6 * np.sqrt(h0.n_spectra)
    for k in (2, 3, 4, 5):
        assert cad.observations[k].data[:, 2500].sum() < 6 * np.sqrt(h0.n_spectra)
    assert cad.observations[0].data[:, 2500].sum() > 50


def test_presence_is_checked():
    with pytest.raises(ValueError, match="presence"):
        make_cadence([NarrowbandSignal(channel=10)], presence=["sometimes"], n_chans=64)
    with pytest.raises(ValueError, match="presence"):
        make_cadence([NarrowbandSignal(channel=10)], presence=[[7]], n_chans=64)
