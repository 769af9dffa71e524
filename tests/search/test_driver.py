"""The observation driver: sub-blocks of coarse channels too large for the memory budget,
parallel threads, in-order identical results."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mitraseti import pipeline
from mitraseti.io import open_observation, write_fil
from mitraseti.search import ParameterError, SearchParams, search_observation
from mitraseti.search import driver

from search_helpers import inject, make_header, noise

N_T, N_CHAN = 16, 16384
PARAMS = SearchParams(max_drift=1.0, snr=10.0)


@pytest.fixture(scope="module")
def one_band(tmp_path_factory):
    """One 16 x 16384 band (no nfpc: one coarse channel) with tones everywhere, some right
    on the owned-range edges of a 4-way split."""
    h = make_header(N_T, N_CHAN)
    data = noise((N_T, N_CHAN), seed=21)
    rng = np.random.default_rng(4)
    starts = [float(c) for c in rng.uniform(200, N_CHAN - 200, 10)]
    starts += [N_CHAN / 4 - 3.0, N_CHAN / 2 + 4.5, 3 * N_CHAN / 4 - 7.0]  # on split edges
    for k, c in enumerate(starts):
        inject(data, c, slope=(-1) ** k * (0.15 + 0.05 * k), level=6.0)
    path = tmp_path_factory.mktemp("driver") / "band.fil"
    write_fil(path, h, data)
    return path, starts


def budget_for(obs, params, n_blocks: int, workers: int = 1, in_place=True) -> float:
    """A memory budget (MiB) for which the plan splits the band into ``n_blocks``."""
    lo, hi = 1e-3, 1e3
    for _ in range(60):
        mid = (lo * hi) ** 0.5
        got = len(driver.plan_search(obs, params, mid, workers, in_place=in_place).blocks)
        if got == n_blocks:
            return mid
        lo, hi = (mid, hi) if got > n_blocks else (lo, mid)
    raise AssertionError(f"no budget gives {n_blocks} blocks")


def key(h):
    """Frequency (mHz) and drift (pHz/s): the same signal, up to float rounding."""
    return (round(h.frequency_hz, 3), round(h.drift_rate, 12))


def test_sub_blocks_find_the_same_hits_once(one_band):
    path, starts = one_band
    with open_observation(path) as obs:
        assert obs.n_coarse_channels == 1
        whole = search_observation(obs, PARAMS, workers=1)
        budget = budget_for(obs, PARAMS, 4)
        plan = driver.plan_search(obs, PARAMS, budget, 1)
        split = search_observation(obs, PARAMS, memory_budget_mb=budget, workers=1)
    assert whole.plan["n_blocks"] == 1 and split.plan["n_blocks"] == 4
    # owned ranges partition the band; each block reaches the overlap beyond them
    assert [b.own_start for b in plan.blocks[1:]] == [b.own_stop for b in plan.blocks[:-1]]
    assert plan.blocks[0].own_start == 0 and plan.blocks[-1].own_stop == N_CHAN
    excursion = PARAMS.max_drift * N_T * 18.253611008 / 2.7939677238464355
    assert plan.overlap >= 2 * excursion
    for b in plan.blocks:
        assert b.start == max(0, b.own_start - plan.overlap)
        assert b.stop == min(N_CHAN, b.own_stop + plan.overlap)
    for got in (split.filtered_hits, split.raw_hits):
        keys = [key(h) + (h.boxcar_width, h.spectrum_start) for h in got]
        assert len(keys) == len(set(keys)), "a hit was kept by two sub-blocks"
    want = {key(h): h for h in whole.filtered_hits}
    got = {key(h): h for h in split.filtered_hits}
    assert set(got) == set(want)
    for k, h in want.items():
        # noise statistics are measured per searched block: S/N agrees to their precision
        assert got[k].snr == pytest.approx(h.snr, rel=0.05)
        assert got[k].channel_index == h.channel_index
    for c in starts:
        assert any(abs(h.channel_index - c) <= 1 for h in split.filtered_hits), c


def test_parallel_threads_give_identical_results_in_order(one_band, monkeypatch):
    path, _ = one_band
    monkeypatch.setattr(driver, "SUB_BLOCK_MB", 0.2)  # sub-blocks of 3276 channels
    with open_observation(path, n_coarse_chan=2) as obs:
        serial = search_observation(obs, PARAMS, workers=1)
        threads = search_observation(obs, PARAMS, workers=2, memory_budget_mb=64)
        split_serial = search_observation(obs, PARAMS, workers=1, memory_budget_mb=0.9)
        split_threads = search_observation(obs, PARAMS, workers=2, memory_budget_mb=0.9)
    assert threads.plan["workers"] == 2 and serial.plan["workers"] == 1
    assert split_threads.plan["workers"] == 2 and split_threads.plan["n_blocks"] > 2
    assert split_threads.plan["n_blocks"] == split_serial.plan["n_blocks"]
    for a, b in ((serial, threads), (split_serial, split_threads)):
        assert [h.to_dict() for h in a.raw_hits] == [h.to_dict() for h in b.raw_hits]
        assert [h.to_dict() for h in a.filtered_hits] == [h.to_dict() for h in b.filtered_hits]
    assert [h.coarse_channel for h in threads.filtered_hits] == sorted(
        h.coarse_channel for h in threads.filtered_hits)


def test_budget_decides_threads_and_block_size(one_band):
    path, _ = one_band
    col = N_T * 4
    with open_observation(path, n_coarse_chan=4) as obs:
        nfpc = N_CHAN // 4
        roomy = driver.plan_search(obs, PARAMS, 64, workers=3)
        assert (roomy.workers, len(roomy.blocks)) == (3, 4)
        # three whole coarse channels fit, not four: two threads and the caller's block
        three = 3.5 * nfpc * col / 2**20
        tight = driver.plan_search(obs, PARAMS, three, workers=3, in_place=False)
        assert (tight.workers, len(tight.blocks)) == (2, 4)
        assert tight.estimate_mb > tight.data_mb == 3 * nfpc * col / 2**20
        for budget in (0.1, 0.3, 0.45, 0.6):
            plan = driver.plan_search(obs, PARAMS, budget, workers=2)
            assert plan.data_mb <= budget or plan.note
            assert (len(plan.blocks) > 4) == (budget < 2 * nfpc * col / 2**20)
            for i in range(4):
                mine = [b for b in plan.blocks if b.coarse_channel == i]
                assert mine[0].own_start == i * nfpc and mine[-1].own_stop == (i + 1) * nfpc
                assert all(b.coarse_start == i * nfpc and b.coarse_nfpc == nfpc for b in mine)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ParameterError, match="workers"):
            driver.check_workers(bad)
    for bad in (0, -1.0, float("nan"), "512"):
        with pytest.raises(ParameterError, match="memory_budget_mb"):
            driver.check_budget(bad)


def test_progress_once_per_coarse_channel_with_sub_blocks(one_band):
    path, _ = one_band
    seen = []
    with open_observation(path, n_coarse_chan=2) as obs:
        budget = budget_for(obs, PARAMS, 6)
        result = search_observation(obs, PARAMS, lambda d, t: seen.append((d, t)),
                                    memory_budget_mb=budget, workers=2)
    assert seen == [(1, 2), (2, 2)]
    assert result.coarse_channels == {"n": 2, "nfpc": N_CHAN // 2,
                                      "source": "parameter n_coarse_chan"}
    assert result.timings["n_blocks"] == 6.0


def test_pipeline_with_a_tiny_budget_matches_the_default_run(one_band, tmp_path):
    path, _ = one_band
    with open_observation(path) as obs:
        budget = budget_for(obs, PARAMS, 4, workers=2, in_place=False)
    whole = pipeline.run(path, tmp_path / "whole", max_drift=1.0, workers=2)
    split = pipeline.run(path, tmp_path / "split", max_drift=1.0, workers=2,
                         memory_budget_mb=budget)
    doc = json.loads((tmp_path / "split" / "results.json").read_text())
    assert doc["search_plan"]["n_blocks"] == 4
    assert doc["search_plan"]["memory_budget_mb"] == pytest.approx(budget)
    assert doc["coarse_channels"]["source"] == "default: whole band"
    assert sorted(map(key, split.filtered_hits)) == sorted(map(key, whole.filtered_hits))
    labels = {key(h): h.classification for h in whole.filtered_hits}
    assert all(h.classification == labels[key(h)] for h in split.filtered_hits)
    # every waterfall column is drawn, from the block that owns it (each block is
    # normalised on its own noise, so pixel values agree only statistically)
    a, b = whole.waterfall.power, split.waterfall.power
    assert a.shape == b.shape and np.isfinite(b).all()
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95
