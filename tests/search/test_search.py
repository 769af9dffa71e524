"""Injected tones are recovered with the right frequency, drift sign and S/N."""
from __future__ import annotations

import numpy as np
import pytest

from mitraseti.search import SearchParams, search_coarse_channel
from mitraseti.search.drift_grid import path_offset

from search_helpers import inject, make_header, noise


def robust_std(x: np.ndarray) -> float:
    lo, hi = np.percentile(x, [5, 95])
    return float(x[(x >= lo) & (x <= hi)].std())


@pytest.mark.parametrize("foff_sign", [1, -1])
@pytest.mark.parametrize("slope", [0.6, -0.6, 2.5, -2.5, 0.0])
def test_tone_frequency_and_drift(foff_sign, slope):
    n_t, n_c = 16, 2048
    h = make_header(n_t, n_c, foff_sign=foff_sign)
    data = noise((n_t, n_c), seed=3)
    inject(data, 700.0, slope, level=6.0)  # integrated S/N ~ 16 * 6 / 4 = 24 sigma
    raw, hits = search_coarse_channel(data, h, SearchParams(max_drift=4.0, snr=10),
                                      coarse_channel=2, channel_offset=5000)
    assert len(hits) == 1, hits
    hit = hits[0]
    r = h.df_hz / ((n_t - 1) * h.dt_s)
    expected_drift = slope * h.df_hz / h.dt_s * foff_sign  # rising frequency is positive
    assert hit.drift_rate == pytest.approx(expected_drift, abs=1.01 * r)
    assert np.sign(hit.drift_rate) == np.sign(expected_drift)
    assert abs(hit.channel_index - 5700) <= 1
    assert abs(hit.frequency_hz - h.channel_frequency_hz(5700)) <= 1.01 * h.df_hz
    assert hit.coarse_channel == 2 and hit.start_time_mjd == h.tstart
    assert hit.source == "dedoppler" and hit.boxcar_width == 1
    assert hit.bandwidth_hz >= h.df_hz
    assert hit.snr > 15


def test_snr_matches_turboseti_definition():
    n_t, n_c = 16, 4096
    h = make_header(n_t, n_c)
    background = noise((n_t, n_c), seed=11)
    data = background.copy()
    k, level = 37, 5.0  # a tone exactly on the Taylor path of drift index 37
    for t in range(n_t):
        data[t, 1000 + path_offset(k, t, n_t)] += level
    path = sum(data[t, 1000 + path_offset(k, t, n_t)] for t in range(n_t))
    spectrum = background.sum(axis=0)
    expected = (path - np.median(spectrum)) / robust_std(spectrum)
    raw, hits = search_coarse_channel(data, h, SearchParams(snr=10))
    best = max(hits, key=lambda x: x.snr)
    assert best.drift_index == k
    assert best.snr == pytest.approx(expected, rel=0.02)


def test_min_drift_drops_slow_signals_and_threshold_applies():
    n_t, n_c = 16, 2048
    h = make_header(n_t, n_c)
    data = noise((n_t, n_c), seed=5)
    inject(data, 300.0, 0.0, level=6.0)   # stationary
    inject(data, 1500.0, 0.8, level=6.0)  # drifting ~0.12 Hz/s
    _, all_hits = search_coarse_channel(data, h, SearchParams(snr=10))
    assert len(all_hits) == 2
    _, fast = search_coarse_channel(data, h, SearchParams(snr=10, min_drift=0.05))
    assert [abs(x.channel_index - 1500) <= 1 for x in fast] == [True]
    _, none = search_coarse_channel(data, h, SearchParams(snr=200))
    assert none == []


def test_two_separate_signals_two_hits_one_signal_one_hit():
    n_t, n_c = 16, 8192
    h = make_header(n_t, n_c)
    data = noise((n_t, n_c), seed=8)
    inject(data, 2000.0, 1.3, level=8.0)
    inject(data, 6000.0, -0.4, level=8.0)
    raw, hits = search_coarse_channel(data, h, SearchParams())
    assert len(raw) > len(hits) == 2  # several stages saw each tone; merged to one each
    assert sorted(round(x.channel_index, -1) for x in hits) == [2000, 6000]
    assert sum(x.n_merged for x in hits) == len(raw)
