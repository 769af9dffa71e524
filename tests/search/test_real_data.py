"""Real telescope data: noise-only GBT files give no hits; the I-LOFAR tones are found."""
from __future__ import annotations

import pytest

from mitraseti.io import open_observation
from mitraseti.search import SearchParams, search_observation

ILOFAR_START_HZ = 153.000417e6  # every injected tone starts at channel 56 at t = 0


@pytest.mark.parametrize("name", ["gbt_DIAG_SGR_B2_finres_32x1024_setigen_sample.fil",
                                  "gbt_DIAG_SGR_B2_finres_64x1024_setigen_nbtest.fil"])
def test_noise_only_gbt_files_give_no_hits(name, real_file):
    with open_observation(real_file(name)) as obs:
        result = search_observation(obs, SearchParams(snr=10))
    assert result.raw_hits == [] and result.filtered_hits == []
    # the search did run every stage, on real noise
    assert result.timings["dedoppler_s"] > 0 and result.timings["matched_filter_s"] > 0


@pytest.mark.parametrize("name", ["ilofar_TIC81831095_inj1_setigen.fil",
                                  "ilofar_TIC81831095_inj1_setigen.h5"])
def test_ilofar_tone_leaving_the_band_is_found(name, real_file):
    calls = []
    with open_observation(real_file(name)) as obs:
        result = search_observation(obs, SearchParams(), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 1)]
    assert len(result.filtered_hits) == 1
    hit = result.filtered_hits[0]
    assert abs(hit.frequency_hz - ILOFAR_START_HZ) < 2 * 2.98
    assert hit.drift_rate == pytest.approx(2.71, abs=0.1)
    assert hit.snr > 12
    # it leaves the band after ~183 spectra: found by a time segment that starts at t = 0
    assert hit.spectrum_start == 0 and hit.spectrum_count < 1341


def test_ilofar_ten_tones_recovered(real_file):
    """inj10 tracks (SOURCES.md): -5.90, -5.84, -4.84, -2.64, -1.97, -1.68, -1.19, -0.07,
    +1.20 Hz/s, all from channel 56. Tones sharing a start share a suppression window, so
    only the ones that separate before leaving the band can be told apart."""
    truth = [-5.90, -5.84, -4.84, -2.64, -1.97, -1.68, -1.19, -0.07, 1.20]
    with open_observation(real_file("ilofar_TIC81831095_inj10_setigen.fil")) as obs:
        result = search_observation(obs, SearchParams(max_drift=6.5))
    found = {d for d in truth
             if any(abs(h.drift_rate - d) < 0.15 for h in result.filtered_hits)}
    assert len(found) >= 6, sorted(h.drift_rate for h in result.filtered_hits)
    for h in result.filtered_hits:  # and nothing else
        assert any(abs(h.drift_rate - d) < 0.15 for d in truth)
