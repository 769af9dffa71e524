"""Smeared fast-drifting and wide signals: the matched filter finds what the tree misses."""
from __future__ import annotations

import numpy as np
import pytest

from mitraseti.search import (SearchParams, boxcar, decimate, plan_stages,
                              search_coarse_channel, smear_bands, wide_bands)

from search_helpers import inject, make_header, noise


def test_boxcar_sums_adjacent_channels():
    data = np.arange(2 * 10, dtype=np.float32).reshape(2, 10)
    out = boxcar(data, 4, 2)
    assert out.shape == (2, 4)
    assert out[1, 2] == data[1, 4] + data[1, 5] + data[1, 6] + data[1, 7]
    assert boxcar(data, 3, 1)[0, 7] == data[0, 7:10].sum()
    assert boxcar(data, 3, 2)[1, 3] == data[1, 6:9].sum()  # hop need not divide width
    with pytest.raises(ValueError, match="hop"):
        boxcar(data, 3, 3)
    dec = decimate(data, 4, phase=1)
    assert dec.shape == (2, 2) and dec[0, 1] == data[0, 5:9].sum()


def test_bands_cover_every_smear_up_to_the_maximum():
    bands = smear_bands(26.0, 1 << 20)
    assert bands[0].smear_lo <= 1.0 and bands[-1].smear_hi >= 26.0
    for a, b in zip(bands, bands[1:]):
        assert b.smear_lo <= a.smear_hi  # no gap between consecutive bands
        assert b.width > a.width and 1 <= a.hop <= a.width
    for band in bands:  # the boxcar width suits the smears its band searches
        assert band.smear_lo / 1.3 <= band.width <= band.smear_hi * 1.3
    assert all(w.hop == w.width // 2 for w in wide_bands(4096))
    assert smear_bands(0.5, 4096) == []


@pytest.mark.parametrize("foff_sign", [1, -1])
def test_smeared_signal_found_by_matched_filter_not_by_plain_tree(foff_sign):
    n_t, n_c = 16, 8192
    h = make_header(n_t, n_c, foff_sign=foff_sign)
    data = noise((n_t, n_c), seed=21)
    slope = -12.0  # channels per spectrum: power smeared over 12 channels in each spectrum
    inject(data, 5000.0, slope, level=16.0, smear=True)  # unsmeared S/N would be 64 sigma
    _, plain = search_coarse_channel(data, h, SearchParams(matched_filter=False))
    near = [x for x in plain if abs(x.channel_index - 5000) < 40]
    plain_snr = max((x.snr for x in near), default=0.0)
    assert plain_snr < 10
    raw, hits = search_coarse_channel(data, h, SearchParams())
    assert len(hits) == 1
    hit = hits[0]
    assert hit.source == "matched_filter" and 6 <= hit.boxcar_width <= 24
    assert hit.snr > 15 and hit.snr > 2 * plain_snr
    drift = slope * h.df_hz / h.dt_s * foff_sign
    assert hit.drift_rate == pytest.approx(drift, rel=0.1)
    assert abs(hit.channel_index - 5000) <= hit.boxcar_width / 2 + 1
    assert hit.bandwidth_hz >= 6 * h.df_hz  # the smeared power is wide in each spectrum


def test_wide_stationary_signal_found_by_a_wide_boxcar():
    n_t, n_c = 16, 4096
    h = make_header(n_t, n_c)
    data = noise((n_t, n_c), seed=4)
    for c in range(2000, 2016):  # 16 channels wide, 1.0 per channel per spectrum
        inject(data, float(c), 0.0, level=1.0)
    _, plain = search_coarse_channel(data, h, SearchParams(matched_filter=False))
    _, hits = search_coarse_channel(data, h, SearchParams())
    assert len(hits) == 1 and hits[0].boxcar_width >= 8
    assert hits[0].snr > 2 * max((x.snr for x in plain), default=0.0)
    assert 12 * h.df_hz <= hits[0].bandwidth_hz <= 20 * h.df_hz


def test_stage_plan():
    h = make_header(16, 1 << 16)
    stages = plan_stages(16, 1 << 16, h, SearchParams())
    per_smear = h.df_hz / h.dt_s  # Hz/s per channel per spectrum
    # the plain tree: whole drift blocks up to ~3 channels / spectrum, not beyond
    assert stages[0].width == 1 and stages[0].hop == 1
    assert 2.9 * per_smear < stages[0].drift_hi < 3.0 * per_smear
    # every drift up to max_drift is searched by some stage
    assert max(s.drift_hi for s in stages) == 4.0
    assert all(s.hop == 1 for s in stages if s.drift_hi <= stages[0].drift_hi and s.width <= 2)
    assert {s.source for s in stages} == {"dedoppler", "matched_filter"}
    plain = plan_stages(16, 1 << 16, h, SearchParams(matched_filter=False))
    assert len(plain) == 1 and plain[0].drift_hi == 4.0 and plain[0].width == 1


def test_stage_views_hold_two_pyramid_levels_bit_identical_to_whole_decimations():
    """StageViews makes each level once, in ascending order, in two reused buffers (5/8 of
    the block in all); every level is bit for bit the block summed 2**level channels at a
    time, whichever levels are skipped."""
    from mitraseti.search.run import StageViews
    from mitraseti.search.taylor import release_workspace

    rng = np.random.default_rng(8)
    block = rng.normal(size=(16, 1 << 14)).astype(np.float32)
    for wanted in ([1, 2, 3, 4, 5], [2, 5], [1, 3], [4], [1, 1, 2, 2, 4]):
        release_workspace()
        views = StageViews(block)
        for lv in wanted:
            got = views.level(lv)
            np.testing.assert_array_equal(got, boxcar(block, 1 << lv, 1 << lv), err_msg=str(wanted))
        held = sum(arr.nbytes for _, arr in views._held.values())
        assert held <= block.nbytes * 5 // 8
    release_workspace()
