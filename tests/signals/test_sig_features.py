"""Physical features measured from injected signals of known shape (mitraseti.synth)."""
import numpy as np
import pytest

from mitraseti.signals.features import FEATURE_NAMES, compute_features, segment_features
from mitraseti.synth import (BroadbandSignal, ChirpSignal, NarrowbandSignal, NoiseModel,
                             PulsedSignal, make_observation)

GRID = dict(n_spectra=16, n_chans=1024, df_hz=2.7939677238464355, dt_s=18.253611008)


def _features(signal, seed=1, **grid):
    kw = {**GRID, **grid}
    obs = make_observation(signals=[signal], noise=NoiseModel(kind="chi2", dof=32),
                           seed=seed, **kw)
    t = obs.truth[0]
    # the hit a straight-line search reports: the best line through the true track
    track = np.asarray(t.track_channels)
    slope, icpt = np.polyfit(np.arange(track.size), track, 1)
    drift = slope * obs.header.foff * 1e6 / obs.header.tsamp
    f = compute_features(obs.data, obs.header, [round(icpt)], [drift], [t.snr])
    return dict(zip(FEATURE_NAMES, f[0])), obs


def test_narrowband_width_and_drift_units():
    f, obs = _features(NarrowbandSignal(channel=300.0, drift_rate=0.25, snr=60, width=2.0))
    r = obs.header.drift_resolution
    assert f["bandwidth_hz"] < 20.0
    assert f["drift_r"] == pytest.approx(0.25 / r, rel=1e-3)
    assert f["duty_off"] < 0.1 and f["n_on_intervals"] == 1
    assert f["track_dev_ch"] <= 2.0
    assert f["strong_fraction"] >= 0.75                 # >= 12 of 16 spectra


def test_broadband_width_exceeds_500_hz():
    f, _ = _features(BroadbandSignal(channel=500.0, drift_rate=0.0, width=1200.0, snr=80))
    assert f["bandwidth_hz"] > 500.0
    assert f["bandwidth_ch"] == pytest.approx(f["bandwidth_hz"] / GRID["df_hz"], rel=1e-3)


def test_pulsed_duty_cycle_and_intervals():
    dt = GRID["dt_s"]
    sig = PulsedSignal(channel=400.0, drift_rate=0.0, period=4 * dt, duty_cycle=0.25,
                       phase=0.0, snr=150, width=2.0)
    f, _ = _features(sig)
    assert f["duty_off"] >= 0.5
    assert f["n_on_intervals"] >= 3


def test_chirp_bend_measured_against_the_best_line():
    span = 15 * GRID["dt_s"]
    accel = 12.0 * 30 * GRID["df_hz"] / span ** 2    # ~30 channels from the best line
    f, _ = _features(ChirpSignal(channel=400.0, drift_rate=0.0, accel=accel, snr=120,
                                 width=2.0))
    assert max(f["curv_dev_ch"], f["track_dev_ch"]) >= 15.0
    assert f["curv_gain"] > 1.5


def test_single_spectrum_spike_has_one_strong_spectrum():
    from mitraseti.synth import ImpulsiveSpike
    f, _ = _features(ImpulsiveSpike(channel=600.0, spectra=(5,), width=3.0, snr=60))
    assert f["strong_fraction"] <= 2 / 16 and f["top2_fraction"] > 0.6


def test_segment_hit_leaving_the_band_is_measured_while_inside():
    """A tone drifting 6 channels per spectrum out of the block after 4 spectra, found on
    a 4-spectrum segment: measured on those spectra it looks continuous; over the whole
    block its path is mostly outside."""
    obs = make_observation(signals=[], noise=NoiseModel(kind="gaussian"), seed=2, **GRID)
    data = obs.data.copy()
    for t in range(4):
        data[t, 1000 + 6 * t] += 8.0
    drift = 6 * obs.header.foff * 1e6 / obs.header.tsamp     # Hz/s for +6 channels/spectrum
    names = FEATURE_NAMES.index
    whole = segment_features(data, obs.header, [1000], [drift], [20])[0]
    seg = segment_features(data, obs.header, [1000], [drift], [20], [0], [4])[0]
    assert whole[names("frac_outside")] > 0.7
    assert seg[names("frac_outside")] == 0 and seg[names("duty_off")] < 0.2


def test_segment_hit_whose_path_stays_in_the_band_is_measured_over_the_block():
    """A pulse train found on one on-pulse (a time-segment hit) is measured over the whole
    observation, where PULSED is defined: its off spectra and two on-intervals show."""
    obs = make_observation(signals=[], noise=NoiseModel(kind="gaussian"), seed=2, **GRID)
    data = obs.data.copy()
    data[:5, 300] += 5.0
    data[10:14, 300] += 5.0
    whole = dict(zip(FEATURE_NAMES, segment_features(data, obs.header, [300], [0.0], [20])[0]))
    seg = dict(zip(FEATURE_NAMES, segment_features(data, obs.header, [300], [0.0], [20],
                                                   [0], [5])[0]))
    assert seg["duty_off"] > 0.3 and seg["n_on_intervals"] == 2
    assert seg == whole


def test_measured_spans_of_paths_entering_and_leaving():
    """Spans are where the straight path is inside the block, at least the segment."""
    from mitraseti.signals.features import measured_spans
    # 100 spectra, 50 channels; paths at column ch(t) = c0 + dch * t
    st, cn = measured_spans(100, 50, [10.0, 10.0, -20.0, 200.0, 25.0],
                            [1.0, -1.0, 1.0, 0.0, 0.0], [5, 5, 30, 10, 10], [8, 8, 8, 8, 0])
    assert list(st) == [0, 0, 20, 10, 0]            # enters at t = 20 (-20 + 20 = 0)
    assert list(st + cn - 1) == [39, 12, 69, 17, 99]  # 10 + 39 = 49; 10 - 10 = 0 at t = 10
def test_empty_and_many_hits_shapes():
    obs = make_observation(signals=[], seed=3, **GRID)
    assert compute_features(obs.data, obs.header, [], [], []).shape == (0, len(FEATURE_NAMES))
    ch = np.linspace(0, 1023, 700)
    x = compute_features(obs.data, obs.header, ch, np.zeros(700), np.full(700, 10.0))
    assert x.shape == (700, len(FEATURE_NAMES)) and np.isfinite(x).all()


def test_stamps_have_fixed_shape_and_follow_the_path():
    from mitraseti.signals.features import stamps
    sig = NarrowbandSignal(channel=300.0, drift_rate=0.5, snr=100, width=2.0)
    for grid in (GRID, dict(GRID, n_spectra=48, df_hz=1.3969839, dt_s=1.4316557)):
        obs = make_observation(signals=[sig], noise=NoiseModel(kind="chi2", dof=32), seed=4,
                               **grid)
        t = obs.truth[0]
        s = stamps(obs.data, obs.header, [t.channel_index], [t.drift_rate])
        assert s.shape == (1, 16, 64)
        # the tone stays in the central columns of every row
        assert (np.abs(s[0].argmax(axis=1) - 32) <= 2).all()


def test_edge_distance_saturates_far_from_the_edge():
    """Near an edge the distance is measured; far away it is the same whatever the block."""
    from mitraseti.signals.features import EDGE_CLIP
    near, _ = _features(NarrowbandSignal(channel=20.0, drift_rate=0.0, snr=60))
    far, _ = _features(NarrowbandSignal(channel=500.0, drift_rate=0.0, snr=60))
    assert 15 <= near["edge_dist_ch"] <= 25
    assert far["edge_dist_ch"] == EDGE_CLIP
