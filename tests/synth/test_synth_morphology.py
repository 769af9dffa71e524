"""Every random_signal draw meets its SIGNALS.md label, measured on the generated data."""
import numpy as np
import pytest
from synth_measure import line_deviation, runs, track, window_power

from mitraseti.synth import PRESETS, NoiseModel, make_observation, random_signal

NOISE = NoiseModel(kind="gaussian", mean=0.0, std=1.0)
DRAWS = 6
GRIDS = ["voyager", "gbt_fine"]


def _draw(label, grid, i):
    preset = PRESETS[grid]
    rng = np.random.default_rng(1000 * i + len(label))
    scale = np.sqrt(preset.n_spectra / 16)  # the same power per spectrum on every grid
    signal = random_signal(label, rng, preset.header(), snr_range=(400 * scale, 600 * scale))
    obs = preset.make(noise=NOISE, signals=[signal], seed=i)
    assert obs.truth[0].label == label
    return obs, obs.truth[0], obs.data.astype(np.float64)


def _spectra_times(h):
    return np.arange(h.n_spectra) * h.dt_s


@pytest.mark.parametrize("grid", GRIDS)
def test_broadband_is_at_least_500_hz_wide_at_one_time(grid):
    for i in range(DRAWS):
        obs, truth, x = _draw("BROADBAND", grid, i)
        _, widths = track(x, threshold=20.0)
        assert widths.max() * obs.header.df_hz >= 500.0, truth


@pytest.mark.parametrize("grid", GRIDS)
def test_pulsed_is_off_in_a_quarter_of_spectra_with_two_on_intervals(grid):
    for i in range(DRAWS):
        obs, truth, x = _draw("PULSED", grid, i)
        h = obs.header
        half = 0.5 * (truth.bandwidth_hz / h.df_hz) + 3
        power = window_power(x, np.array(truth.track_channels), half)
        off = power < 0.2 * power.max()
        assert off.mean() >= 0.25, (truth, power)
        assert runs(~off) >= 2, (truth, power)


@pytest.mark.parametrize("grid", GRIDS)
def test_chirp_departs_from_its_best_line_by_more_than_max_3ch_or_bandwidth(grid):
    for i in range(DRAWS):
        obs, truth, x = _draw("CHIRP", grid, i)
        centres, widths = track(x, threshold=20.0)
        _, deviation = line_deviation(_spectra_times(obs.header), centres)
        assert deviation > max(3.0, widths.max()), (truth, deviation, widths.max())


@pytest.mark.parametrize("grid", GRIDS)
def test_narrowband_drifting_is_continuous_narrow_linear_and_drifts(grid):
    for i in range(DRAWS):
        obs, truth, x = _draw("NARROWBAND_DRIFTING", grid, i)
        h = obs.header
        centres, widths = track(x, threshold=20.0)
        slope, deviation = line_deviation(_spectra_times(h), centres)
        drift = abs(slope * h.df_hz)  # channels/s -> Hz/s
        assert drift > 1.5 * h.drift_resolution, (truth, drift)
        assert deviation <= max(3.0, widths.max())
        assert widths.max() * h.df_hz < 500.0
        power = window_power(x, centres, 0.5 * widths.max() + 3)
        assert np.all(power >= 0.2 * power.max())  # continuous
        assert np.sign(slope) == np.sign(truth.drift_rate) * np.sign(h.foff)


@pytest.mark.parametrize("grid", GRIDS)
def test_narrowband_stationary_drifts_at_most_1_5_r(grid):
    for i in range(DRAWS):
        obs, truth, x = _draw("NARROWBAND_STATIONARY", grid, i)
        h = obs.header
        centres, widths = track(x, threshold=20.0)
        assert np.all(np.isfinite(centres))
        slope, _ = line_deviation(_spectra_times(h), centres)
        assert abs(slope * h.df_hz) <= 1.5 * h.drift_resolution, (truth, slope * h.df_hz)
        assert widths.max() * h.df_hz < 500.0


@pytest.mark.parametrize("grid", GRIDS)
def test_noise_artifacts_are_impulsive_single_pixel_or_on_the_dc_bin(grid):
    kinds = set()
    for i in range(3 * DRAWS):
        obs, truth, x = _draw("NOISE", grid, i)
        h = obs.header
        kinds.add(truth.kind)
        bright = x > 8.0  # noise is N(0, 1); the artifact is hundreds of sigma
        rows = np.flatnonzero(bright.any(axis=1))
        cols = np.flatnonzero(bright.any(axis=0))
        if truth.kind == "impulse":
            assert 1 <= rows.size <= 2, truth
        elif truth.kind == "hot_pixel":
            assert bright.sum() == 1, truth
        else:
            assert truth.kind == "dc_spike"
            assert list(cols) == [h.nfpc // 2] and rows.size == h.n_spectra
    assert kinds == {"impulse", "hot_pixel", "dc_spike"}


def test_random_signal_rejects_unknown_labels_and_grids_too_small():
    rng = np.random.default_rng(0)
    header = PRESETS["voyager"].header()
    with pytest.raises(ValueError, match="label"):
        random_signal("ALIEN", rng, header)
    with pytest.raises(ValueError, match="BROADBAND.*band"):
        random_signal("BROADBAND", rng, PRESETS["voyager"].header(n_chans=128))
    with pytest.raises(ValueError, match="PULSED.*n_spectra"):
        random_signal("PULSED", rng, PRESETS["voyager"].header(n_spectra=6))


def test_labelled_observation_uses_presets_and_overrides():
    from mitraseti.synth import make_labelled_observation

    obs = make_labelled_observation("NARROWBAND_DRIFTING", seed=3, preset="ilofar_like", n_chans=256)
    assert obs.header.nchans == 256 and obs.header.tsamp == PRESETS["ilofar_like"].dt_s
    assert obs.truth[0].label == "NARROWBAND_DRIFTING"
    make_observation(signals=[], seed=0)  # no signals: noise only
