"""search_observation on real files written by mitraseti.io: coarse channels, offsets."""
from __future__ import annotations

import pytest

from mitraseti.io import open_observation, write_fil
from mitraseti.search import ParameterError, SearchParams, search_observation

from search_helpers import inject, make_header, noise


@pytest.fixture
def two_coarse_channels(tmp_path):
    n_t, nfpc = 16, 2048
    h = make_header(n_t, 2 * nfpc, nfpc=nfpc)
    data = noise((n_t, 2 * nfpc), seed=9)
    inject(data, 600.0, 0.7, level=7.0)            # coarse channel 0
    inject(data, nfpc + 1500.0, -1.4, level=7.0)   # coarse channel 1
    path = tmp_path / "two.fil"
    write_fil(path, h, data)
    return path, h, nfpc


def test_hits_carry_file_channels_and_coarse_channel(two_coarse_channels):
    path, h, nfpc = two_coarse_channels
    seen = []
    with open_observation(path, n_coarse_chan=2) as obs:  # .fil does not store nfpc
        assert obs.n_coarse_channels == 2
        result = search_observation(obs, SearchParams(), progress=lambda d, t: seen.append(d))
    assert seen == [1, 2]
    got = sorted((x.coarse_channel, x.channel_index) for x in result.filtered_hits)
    assert len(got) == 2
    assert got[0][0] == 0 and abs(got[0][1] - 600) <= 1
    assert got[1][0] == 1 and abs(got[1][1] - (nfpc + 1500)) <= 1
    for x in result.filtered_hits:
        assert x.frequency_hz == pytest.approx(h.channel_frequency_hz(x.channel_index),
                                               abs=h.df_hz)
    assert set(result.timings) >= {"read_s", "dedoppler_s", "matched_filter_s", "filter_s",
                                   "total_s"}


def test_n_coarse_chan_resplits_and_is_checked(two_coarse_channels):
    path, h, nfpc = two_coarse_channels
    with open_observation(path, n_coarse_chan=2) as obs:
        whole = search_observation(obs, SearchParams(n_coarse_chan=1))
        assert {x.coarse_channel for x in whole.filtered_hits} == {0}
        assert len(whole.filtered_hits) == 2
        with pytest.raises(ParameterError, match="n_coarse_chan"):
            search_observation(obs, SearchParams(n_coarse_chan=3))
