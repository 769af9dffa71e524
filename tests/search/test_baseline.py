"""The spectral baseline: bandpass, DC spike and broadband features removed before the
search; S/N against the local noise; every broadband feature reported once."""
from __future__ import annotations

import numpy as np
import pytest

from mitraseti.search import SearchParams, search_coarse_channel
from mitraseti.search.baseline import flatten_block
from mitraseti.search.broadband import BROADBAND_HZ
from mitraseti.search.running_median import clipped_std
from mitraseti.search.running_median import (block_medians, running_median,
                                             running_median_rows, sum_and_trimmed_mean, window_median)
from mitraseti.signals import classify_hits
from mitraseti.synth import (Bandpass, BroadbandRFI, DCSpikes, Impairments, NarrowbandSignal,
                             NoiseModel, Quantizer, make_observation)

NOISE = NoiseModel(kind="chi2", dof=16, mean=1.0)
N_T, N_CH = 16, 1 << 16


def tone(channel, drift, snr):
    return NarrowbandSignal(channel=float(channel), drift_rate=float(drift), snr=float(snr))


def near(hit, header, channel, tol=4):
    c = (hit.frequency_hz / 1e6 - header.fch1) / header.foff
    return abs(c - channel) <= tol


# ---- kernels against brute force ------------------------------------------------------------
def test_running_median_equals_windowed_numpy_median():
    x = np.random.default_rng(1).normal(size=301)
    for half in (0, 1, 5, 40, 400):
        ref = [np.median(x[max(0, i - half):i + half + 1]) for i in range(x.size)]
        assert np.allclose(running_median(x, half), ref)
    rows = np.random.default_rng(2).normal(size=(3, 120))
    ref = [[np.median(r[max(0, i - 7):i + 8]) for i in range(120)] for r in rows]
    assert np.allclose(running_median_rows(rows, 7), ref)


def test_edge_preserving_median_keeps_a_step_sharp():
    rng = np.random.default_rng(3)
    step = np.where(np.arange(4000) < 2000, 0.0, 2.0)
    x = step + rng.normal(size=4000)
    # in noise a centred median bends the step near the edge; the edge-preserving one
    # takes the window on the edge's own side
    near_edge = slice(1950, 2050)
    err_centred = np.abs(running_median(x, 200) - step)[near_edge].mean()
    err_edge = np.abs(running_median(x, 200, short=8) - step)[near_edge].mean()
    assert err_edge < 0.6 * err_centred


def test_block_and_window_medians_and_trimmed_mean():
    x = np.arange(10, dtype=float)[::-1]
    assert block_medians(x, 4).tolist() == [7.5, 3.5, 0.5]
    v = np.array([1.0, np.nan, 3.0, 100.0, 5.0])
    assert window_median(v, 1).tolist() == [1.0, 2.0, 51.5, 5.0, 52.5]
    b = np.random.default_rng(4).random((5, 50)).astype(np.float32)
    total, trimmed = sum_and_trimmed_mean(b)
    srt = np.sort(b, axis=0).astype(np.float64)
    assert np.allclose(total, b.sum(axis=0, dtype=np.float64), rtol=1e-6)
    assert np.allclose(trimmed, srt[:-2].mean(axis=0), rtol=1e-5)
    two = b[:2]  # two spectra or fewer: the plain mean
    assert np.allclose(sum_and_trimmed_mean(two)[1], two.mean(axis=0), rtol=1e-6)


# ---- flat noise: the same S/N as one global noise figure ------------------------------------
def test_flat_noise_snr_stays_within_5_percent_of_the_global_definition():
    signals = [tone(4000 + 5000 * k, d, s) for k, (d, s) in
               enumerate([(0.0, 30), (0.3, 25), (-1.2, 40), (2.5, 35), (-3.5, 45), (1.0, 20)])]
    obs = make_observation(n_spectra=N_T, n_chans=N_CH, noise=NOISE, signals=signals, seed=5)
    _, flat = search_coarse_channel(obs.data, obs.header, SearchParams(baseline=False))
    _, local = search_coarse_channel(obs.data, obs.header, SearchParams())
    assert len(flat) == len(local) >= 5
    for a, b in zip(flat, local):
        assert abs(a.frequency_hz - b.frequency_hz) < 3 * obs.header.df_hz
        assert b.snr == pytest.approx(a.snr, rel=0.05)


def test_flatten_gives_zero_median_unit_noise_and_leaves_the_caller_data():
    obs = make_observation(n_spectra=N_T, n_chans=N_CH, noise=NOISE, seed=6,
                           impairments=Impairments(bandpass=Bandpass(edge_level=0.33)))
    before = obs.data.copy()
    search_coarse_channel(obs.data, obs.header, SearchParams())
    assert np.array_equal(obs.data, before)  # in_place=False works on a copy
    z = obs.data.copy()
    info = flatten_block(z, obs.header.df_hz)
    assert info.power_like
    spec = z.sum(axis=0)
    for part in np.array_split(spec, 16):  # edges (gain 1/3) and centre alike
        lo, hi = np.percentile(part, [5, 95])
        clipped = part[(part >= lo) & (part <= hi)]
        assert abs(np.median(part)) < 0.1 * clipped.std()
        assert clipped.std() == pytest.approx(np.sqrt(N_T), rel=0.08)


def test_zero_mean_data_are_subtracted_not_divided():
    rng = np.random.default_rng(7)
    data = rng.normal(0.0, 1.0, (N_T, 8192)).astype(np.float32)
    data += np.linspace(-3, 3, 8192, dtype=np.float32)  # an additive slope
    info = flatten_block(data, 2.79)
    assert not info.power_like
    assert abs(float(np.median(data))) < 0.05
    assert float(clipped_std(data.ravel())) == pytest.approx(1.0, rel=0.05)


# ---- a dirty coarse channel ------------------------------------------------------------------
def dirty_observation(seed=8, quantize=False):
    nch = N_CH
    df = 2.7939677238464355
    centre = nch // 2
    tones = [tone(3000, 0.4, 40),            # on the roll-off: gain about 1/3
             tone(nch - 2500, -0.8, 40),
             tone(12000, 1.5, 35), tone(20000, -2.5, 40), tone(45000, 0.2, 30),
             tone(14800, 0.3, 40),           # on top of a broadband box (below)
             tone(30300, -0.5, 40),          # just beside a Gaussian feature
             tone(52000, 0.0, 30)]
    features = [BroadbandRFI(channel=15000, width_hz=4000, shape="box", amplitude=1.5),
                BroadbandRFI(channel=28000, width_hz=3000, shape="gaussian", amplitude=2.0),
                BroadbandRFI(channel=38000, width_hz=8000, shape="box", amplitude=1.0,
                             on_fraction=0.5, burst_spectra=2.0)]
    imp = Impairments(bandpass=Bandpass(edge_level=0.33, ripple=0.02), dc_spikes=DCSpikes(10.0),
                      broadband=features, quantize=Quantizer() if quantize else None)
    obs = make_observation(n_spectra=N_T, n_chans=nch, df_hz=df, noise=NOISE, signals=tones,
                           seed=seed, impairments=imp)
    return obs, [15000, 28000, 38000], centre


@pytest.mark.parametrize("quantize", [False, True])
def test_dirty_channel_tones_found_each_feature_once_dc_blanked(quantize):
    obs, feature_channels, centre = dirty_observation(quantize=quantize)
    h = obs.header
    timings = {}
    raw, hits = search_coarse_channel(obs.data, h, SearchParams(snr=10), timings=timings)
    assert timings["dc_channels_blanked"] >= 1
    broad = [x for x in hits if x.boxcar_width * h.df_hz >= BROADBAND_HZ]
    narrow = [x for x in hits if x not in broad]
    # each broadband feature once, where it is
    assert len(broad) == len(feature_channels) == timings["broadband_features"]
    for c in feature_channels:
        assert sum(near(x, h, c, tol=600) for x in broad) == 1
    # every tone found (on the roll-off, on and beside the features), nothing else
    for s in obs.truth:
        assert any(near(x, h, s.channel, tol=3 + abs(s.drift_rate) * h.dt_s / h.df_hz)
                   for x in narrow), (s.channel, s.drift_rate, [(x.channel_index, x.snr)
                                                                for x in narrow])
    assert len(narrow) == len(obs.truth)
    # and none at the DC bin
    assert not any(abs(x.channel_index - centre) <= 2 for x in hits)


def test_tone_under_the_bandpass_edge_keeps_its_snr():
    bandpass = Impairments(bandpass=Bandpass(edge_level=0.33))
    signals = [tone(1500, 0.5, 40), tone(N_CH // 3, 0.5, 40)]  # gain ~1/3 and ~1
    obs = make_observation(n_spectra=N_T, n_chans=N_CH, noise=NOISE, signals=signals, seed=9,
                           impairments=bandpass)
    _, hits = search_coarse_channel(obs.data, obs.header, SearchParams())
    gains = obs.impairment_truth.gain
    assert gains[1500] < 0.45 and gains[N_CH // 3] > 0.95
    edge = [x for x in hits if near(x, obs.header, 1500)]
    mid = [x for x in hits if near(x, obs.header, N_CH // 3)]
    assert len(edge) == len(mid) == 1
    assert edge[0].snr == pytest.approx(mid[0].snr, rel=0.15)
    # one global noise figure loses it: the bandpass inflates the noise
    _, old = search_coarse_channel(obs.data, obs.header, SearchParams(baseline=False))
    old_edge = [x for x in old if near(x, obs.header, 1500)]
    assert not old_edge or old_edge[0].snr < 0.7 * edge[0].snr


def test_broadband_features_are_labelled_broadband():
    obs, feature_channels, _ = dirty_observation(seed=10)
    block = obs.data.copy()
    _, hits = search_coarse_channel(block, obs.header, SearchParams(), in_place=True)
    classify_hits(hits, block, obs.header)
    broad = [x for x in hits if x.boxcar_width * obs.header.df_hz >= BROADBAND_HZ]
    assert broad and all(x.classification == "BROADBAND" and x.confidence == 1.0
                         for x in broad)
    assert any(x.classification == "NARROWBAND_DRIFTING" for x in hits if x not in broad)


def test_in_place_search_gives_the_data_back_and_the_same_hits():
    obs, _, _ = dirty_observation(seed=11)
    block = obs.data.copy()
    _, copied = search_coarse_channel(obs.data, obs.header, SearchParams())
    _, inplace = search_coarse_channel(block, obs.header, SearchParams(), in_place=True)
    assert [(h.frequency_hz, h.drift_rate, h.snr) for h in copied] == \
        [(h.frequency_hz, h.drift_rate, h.snr) for h in inplace]
    assert np.allclose(block, obs.data, rtol=1e-5, atol=1e-6 * float(np.abs(obs.data).max()))


def test_weak_positive_offset_is_treated_as_additive():
    """Positive data whose mean is small against the noise: subtracted, not divided."""
    rng = np.random.default_rng(12)
    data = rng.normal(1.4, 3.0, (N_T, 8192)).astype(np.float32)
    info = flatten_block(data, 2.79)
    assert not info.power_like
    assert abs(float(np.median(data))) < 0.05
    assert float(clipped_std(data.ravel())) == pytest.approx(1.0, rel=0.05)


def test_window_median_equals_the_median_of_each_clipped_window_of_finite_values():
    rng = np.random.default_rng(12)
    for _ in range(20):
        v = rng.standard_normal(int(rng.integers(1, 300)))
        v[rng.random(v.size) < 0.2] = np.nan
        v[rng.random(v.size) < 0.1] = 1.0  # ties
        k = int(rng.integers(1, 10))
        expected = []
        for i in range(v.size):
            w = v[max(0, i - k):i + k + 1]
            w = w[np.isfinite(w)]
            expected.append(np.median(w) if w.size else np.nan)
        assert np.array_equal(window_median(v, k), np.array(expected), equal_nan=True)
