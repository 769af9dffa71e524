"""DC-bin blanking, artifacts, top-hit suppression and merging."""
from __future__ import annotations

import numpy as np

from mitraseti.search import Hit, SearchParams, dc_blanked, search_coarse_channel, top_hits
from mitraseti.search.filtering import is_artifact, merge_hits

from search_helpers import inject, make_header, noise


def test_dc_bin_blanked_and_restored():
    h = make_header(16, 1024)
    data = noise((16, 1024), seed=2)
    data[:, 512] += 50.0  # BL-like coarse channel (power-of-two nfpc): DC spike
    raw, hits = search_coarse_channel(data, h, SearchParams(blank_dc=False))
    assert any(x.channel_index == 512 for x in hits)
    raw, hits = search_coarse_channel(data, h, SearchParams())
    assert hits == [] and raw == []
    assert data[0, 512] > 55.0  # the caller's array is left as it was
    with dc_blanked(data) as blanked:
        assert blanked[3, 512] == 0.5 * (data[3, 511] + data[3, 513])
    odd = noise((4, 1000))
    with dc_blanked(odd) as same:  # not BL-like: untouched
        assert same[0, 500] == odd[0, 500]


def test_spike_elsewhere_is_not_blanked():
    h = make_header(16, 1024)
    data = noise((16, 1024), seed=2)
    data[:, 300] += 50.0
    _, hits = search_coarse_channel(data, h, SearchParams())
    assert [x.channel_index for x in hits] == [300]


def test_edge_artifacts_dropped_but_inward_paths_kept():
    h = make_header(16, 1024)
    data = noise((16, 1024), seed=6)
    inject(data, 1.0, 0.0, level=8.0)   # stuck on the band edge
    raw, hits = search_coarse_channel(data, h, SearchParams(matched_filter=False))
    assert any(x.channel_index == 1 for x in raw) and hits == []
    data = noise((16, 1024), seed=6)
    inject(data, 2.0, 3.0, level=8.0)   # starts at the edge, drifts inwards
    raw, hits = search_coarse_channel(data, h, SearchParams(matched_filter=False))
    assert [x.channel_index for x in hits] == [2]
    hit = Hit(frequency_hz=h.channel_frequency_hz(1022), drift_rate=0.0, snr=20,
              channel_index=1022, spectrum_count=16)
    assert is_artifact(hit, h, 1024, 0, True)


def test_top_hits_window():
    snr = np.full(100, -np.inf, dtype=np.float32)
    snr[[10, 14, 40, 41, 90]] = [12, 15, 11, 11, 9]
    assert list(top_hits(snr, 10, 5)) == [14, 40]  # 10 < 14 nearby; tie keeps the first
    assert list(top_hits(snr, 10, 0)) == [10, 14, 40, 41]


def test_merge_keeps_best_and_counts():
    h = make_header(16, 1024)
    f = h.channel_frequency_hz
    a = Hit(f(100), -0.5, 30.0, 100, spectrum_count=16)
    b = Hit(f(101), -0.5, 12.0, 101, boxcar_width=4, source="matched_filter",
            spectrum_count=16)
    c = Hit(f(600), -0.5, 15.0, 600, spectrum_count=16)
    merged = merge_hits([b, a, c], h, {})
    assert [(m.channel_index, m.n_merged) for m in merged] == [(100, 2), (600, 1)]
    assert b.n_merged == 1  # raw hits are not modified
