"""Noise statistics and instrument effects, measured on the generated arrays."""
import numpy as np
import pytest

from mitraseti.synth import NoiseModel, make_observation


@pytest.mark.parametrize("dof", [2, 8, 64])
def test_chi2_moments_match_dof(dof):
    mean = 3.0
    data = NoiseModel(kind="chi2", mean=mean, dof=dof).draw(64, 4096, np.random.default_rng(dof))
    x = data.astype(np.float64).ravel()
    assert x.min() >= 0
    assert x.mean() == pytest.approx(mean, rel=0.01)
    assert x.var() == pytest.approx(mean ** 2 * 2.0 / dof, rel=0.05)
    skew = np.mean((x - x.mean()) ** 3) / x.std() ** 3
    assert skew == pytest.approx(np.sqrt(8.0 / dof), rel=0.15)  # chi2 skewness


def test_gaussian_defaults_to_chi2_moments_and_honours_std():
    rng = np.random.default_rng(1)
    x = NoiseModel(kind="gaussian", mean=2.0, dof=32).draw(32, 4096, rng).astype(float)
    assert x.mean() == pytest.approx(2.0, abs=0.01)
    assert x.std() == pytest.approx(2.0 * np.sqrt(2 / 32), rel=0.02)
    y = NoiseModel(kind="gaussian", mean=0.0, std=5.0).draw(32, 4096, rng).astype(float)
    assert y.std() == pytest.approx(5.0, rel=0.02)
    assert abs(np.mean((y - y.mean()) ** 3)) / 125 < 0.05  # symmetric


def test_bandpass_rolls_off_at_coarse_edges_and_dc_bins_spike():
    noise = NoiseModel(kind="none", mean=1.0, bandpass=True, dc_spike=2.0)
    obs = make_observation(n_spectra=4, n_chans=1024, n_coarse_chan=4, noise=noise, seed=0)
    row = obs.data[0].astype(float)
    nfpc = 256
    assert obs.header.nfpc == nfpc
    for k in range(4):
        block = row[k * nfpc:(k + 1) * nfpc]
        assert 0.45 < block[0] < 0.6 and 0.45 < block[-1] < 0.6  # about half power at the edges
        assert block[nfpc // 4] == pytest.approx(1.0, abs=1e-3)  # flat inside
        assert block[nfpc // 2] == pytest.approx(3.0, rel=1e-3)  # DC bin x (1 + dc_spike)
    spikes = np.flatnonzero(row > 1.5)
    assert list(spikes) == [128, 384, 640, 896]


def test_gain_drift_and_impulses():
    noise = NoiseModel(kind="none", mean=1.0, gain_drift=0.2)
    obs = make_observation(n_spectra=16, n_chans=64, noise=noise, seed=0)
    means = obs.data.mean(axis=1)
    assert means[0] == pytest.approx(0.9, rel=1e-5) and means[-1] == pytest.approx(1.1, rel=1e-5)
    assert np.all(np.diff(means) > 0)

    noise = NoiseModel(kind="none", mean=1.0, dof=8, impulses=3, impulse_snr=10.0)
    obs = make_observation(n_spectra=16, n_chans=512, noise=noise, seed=3)
    excess = obs.data - 1.0
    hit_rows = np.flatnonzero(excess.max(axis=1) > 0)
    assert 1 <= hit_rows.size <= 3
    step = 10.0 * 1.0 * np.sqrt(2 / 8)  # impulse_snr pixel stds
    levels = np.unique(np.round(excess[excess > 0] / step, 4))
    assert set(levels) <= {1.0, 2.0, 3.0}


def test_bad_noise_parameters_are_named():
    with pytest.raises(ValueError, match="NoiseModel.kind"):
        NoiseModel(kind="pink")
    with pytest.raises(ValueError, match="NoiseModel.dof"):
        NoiseModel(dof=0)
