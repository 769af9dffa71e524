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


@pytest.mark.parametrize("n", [1 << 14, (1 << 14) + 13])
def test_stage_views_levels_share_a_quarter_block_buffer_bit_identical(n):
    """Levels >= 2 are made once, in ascending order, in one buffer of a quarter of the
    block (plus headroom): each higher level in place from the one below. Every level is
    bit for bit the block summed 2**level channels at a time, whichever levels are
    skipped; level-1 pieces are windows of the whole level 1, and level 1 is never made
    whole."""
    from mitraseti.search.run import StageViews
    from mitraseti.search.taylor import release_workspace, workspace

    rng = np.random.default_rng(8)
    block = rng.normal(size=(16, n)).astype(np.float32)
    whole1 = boxcar(block, 2, 2)
    for wanted in ([2, 3, 4, 5], [2, 5], [3], [4], [2, 2, 4, 4, 6]):
        release_workspace()
        views = StageViews(block)
        piece = views.level1_piece(100, 3000)
        np.testing.assert_array_equal(piece, whole1[:, 100:3100])
        for lv in wanted:
            got = views.level(lv)
            assert got.flags.c_contiguous
            np.testing.assert_array_equal(got, boxcar(block, 1 << lv, 1 << lv),
                                          err_msg=str(wanted))
        buffer = workspace("level", 1, np.float32).base
        assert buffer.nbytes <= block.nbytes // 4 * 17 // 16 + 64
        with pytest.raises(ValueError, match="level 1"):
            views.level(1)
    release_workspace()


def test_pair_sum_in_place_matches_a_separate_decimation():
    from mitraseti.search.matched_filter import (_pair_sum_rows_in_place, decimate_into,
                                                 pair_sum_in_place)

    rng = np.random.default_rng(3)
    for m in (2, 7, 1000, 1001):
        data = rng.normal(size=(5, m)).astype(np.float32)
        want = decimate_into(data, 2, np.empty((5, m // 2), np.float32))
        flat = np.empty(data.size + 10, np.float32)
        flat[:data.size] = data.ravel()
        got = pair_sum_in_place(flat[:data.size].reshape(data.shape), flat)
        np.testing.assert_array_equal(got, want)
        flat[:data.size] = data.ravel()  # rows split into many parallel chunks
        _pair_sum_rows_in_place(flat, 5, m, m // 2, 3)
        np.testing.assert_array_equal(flat[:5 * (m // 2)].reshape(5, m // 2), want)
    with pytest.raises(ValueError, match="start of flat"):
        pair_sum_in_place(flat[1:11].reshape(2, 5), flat)


def test_level1_stages_searched_in_pieces_match_one_whole_search():
    """A level-1 stage searched in LEVEL1_PIECES windows of level 1 gives the same maxima
    and drift indices, bit for bit, as one search of the whole level (fused bands too)."""
    from mitraseti.search.matched_filter import decimate_into
    from mitraseti.search.run import Stage, StageViews, _pieced_max_over_drift, _stage_grid
    from mitraseti.search.taylor import _max_over_drift, release_workspace

    rng = np.random.default_rng(5)
    n = (1 << 15) + 6  # odd level-1 width
    header = make_header(16, n)
    block = noise((16, n), seed=5)
    inject(block, 1234.0, 0.6, 30.0)
    inject(block, n / 2 + 3, -2.2, 40.0, smear=True)   # across the pieces' seam
    block[:, n // 2 - 40:n // 2 + 40] += rng.normal(size=(16, 80)).astype(np.float32)
    whole1 = decimate_into(block, 2, np.empty((16, n // 2), np.float32))
    for width, hop, lo, hi, bands in [(4, 2, 0.0, 0.8, []), (6, 4, 0.7, 1.2, []),
                                      (16, 2, 2.0, 4.0, []), (4, 2, 0.0, 4.0, [(3, 0, 5)])]:
        stage = Stage(width, hop, 0, 16, lo, hi)
        grid = _stage_grid(stage, header)
        per, stride = {(4, 2): (2, 1), (6, 4): (3, 2), (16, 2): (8, 1)}[(width, hop)]
        n_view = (n // 2 - per) // stride + 1
        w_best, w_k, w_bands = (np.copy(x) if not isinstance(x, list) else
                                [(np.copy(a), np.copy(b)) for a, b in x]
                                for x in _max_over_drift(whole1, grid, bands, (per, stride)))
        release_workspace()
        best, k, band_res = _pieced_max_over_drift(StageViews(block), stage, grid, bands,
                                                   per, stride, n_view)
        np.testing.assert_array_equal(best, w_best)
        np.testing.assert_array_equal(k, w_k)
        for (bb, bk), (wb, wk) in zip(band_res, w_bands):
            np.testing.assert_array_equal(bb, wb)
            np.testing.assert_array_equal(bk, wk)
        assert np.isfinite(best).any()
    release_workspace()


def test_consecutive_level1_stages_share_their_pieces(monkeypatch):
    """Stages of one block use the same level-1 pieces (the widest reach of them all), the
    one made last first: three stages make four pieces, not six."""
    import mitraseti.search.run as run
    from mitraseti.search.run import Stage, StageViews, level1_reach, run_stage
    from mitraseti.search.taylor import release_workspace

    header = make_header(16, 1 << 16)
    block = noise((16, 1 << 16), seed=9)
    made = []
    real = run.pair_sum_columns_into
    monkeypatch.setattr(run, "pair_sum_columns_into",
                        lambda data, c0, out: made.append(c0) or real(data, c0, out))
    stages = [Stage(4, 2, 0, 16, 0.0, 0.8), Stage(6, 4, 0, 16, 0.7, 1.2),
              Stage(16, 2, 0, 16, 2.0, 4.0)]
    views = StageViews(block)
    views.level1_reach = max(level1_reach(st, run._stage_grid(st, header), ()) for st in stages)
    for st in stages:
        run_stage(block, st, header, SearchParams(), 0, 0, (), views)
    assert len(made) == 4 and len(set(made)) == 2
    release_workspace()
