"""Doppler smearing and spectral profiles: power per spectrum is conserved."""
import numpy as np
import pytest

from mitraseti.synth import PRESETS, BroadbandSignal, NarrowbandSignal, NoiseModel

EMPTY = NoiseModel(kind="none", mean=0.0)
VOY = PRESETS["voyager"]


def _half_max_count(row):
    return int(np.sum(row >= 0.5 * row.max()))


@pytest.mark.parametrize("channels_per_spectrum", [3.0, 8.0, 20.0])
def test_smearing_spreads_power_over_drift_dt_over_df_channels(channels_per_spectrum):
    h = VOY.header()
    drift = channels_per_spectrum * h.df_hz / h.dt_s
    moving = VOY.make(n_chans=2048, noise=EMPTY, signals=[
        NarrowbandSignal(channel=200.0, drift_rate=-drift, width=0.0, level=100.0)])
    still = VOY.make(n_chans=2048, noise=EMPTY, signals=[
        NarrowbandSignal(channel=200.0, drift_rate=0.0, width=0.0, level=100.0)])
    # total power per spectrum is the same with and without smearing
    np.testing.assert_allclose(moving.data.sum(axis=1), 100.0, rtol=1e-4)
    np.testing.assert_allclose(still.data.sum(axis=1), 100.0, rtol=1e-4)
    assert np.count_nonzero(still.data[5]) == 1
    for row in moving.data[1:-1]:
        assert abs(_half_max_count(row) - channels_per_spectrum) <= 1.0
        assert row.max() == pytest.approx(100.0 / channels_per_spectrum, rel=0.2)


@pytest.mark.parametrize("profile", ["gaussian", "sinc2", "box"])
def test_profile_width_is_its_half_max_width(profile):
    h = VOY.header()
    obs = VOY.make(noise=EMPTY, signals=[
        NarrowbandSignal(channel=512.0, width=15 * h.df_hz, profile=profile, level=10.0)])
    np.testing.assert_allclose(obs.data.sum(axis=1), 10.0, rtol=2e-3)
    assert abs(_half_max_count(obs.data[0]) - 15) <= 1
    row = obs.data[0]
    centroid = np.sum(np.arange(row.size) * row) / row.sum()
    assert centroid == pytest.approx(512.0, abs=0.01)
    np.testing.assert_allclose(row[512 - 40:512], row[512 + 40:512:-1], rtol=1e-3, atol=1e-7)


def test_band_edge_drops_power_that_leaves_the_band():
    obs = VOY.make(n_chans=256, noise=EMPTY, signals=[
        BroadbandSignal(channel=10.0, width=100 * VOY.df_hz, level=1.0)])
    kept = obs.data[0].sum()
    assert 0.55 < kept < 0.65  # box of 100 channels centred 10.5 channels from the edge
