"""Interestingness: range, documented ordering, and top_candidates ranking."""
import numpy as np

from mitraseti.search.hit import Hit
from mitraseti.signals.interest import interestingness, top_candidates
from mitraseti.taxonomy import MORPHOLOGIES


def _hit(label, snr, probs, rfi="", freq=1.42e9):
    h = Hit(frequency_hz=freq, drift_rate=0.3, snr=snr, channel_index=0)
    h.classification, h.rfi_source = label, rfi
    h.probabilities = dict(zip(MORPHOLOGIES, probs))
    h.interestingness = interestingness(h)
    return h


DRIFT = [0, 0, 0, 0, 0.05, 0.95]   # mostly NARROWBAND_DRIFTING
STAT = [0, 0, 0, 0, 0.95, 0.05]
BROAD = [0.02, 0.95, 0.01, 0.01, 0.01, 0.0]


def test_range_and_documented_ordering():
    et = _hit("CANDIDATE_ET", 80, DRIFT)
    strong = _hit("NARROWBAND_DRIFTING", 80, DRIFT)
    weak = _hit("NARROWBAND_DRIFTING", 12, DRIFT)
    stat = _hit("NARROWBAND_STATIONARY", 80, STAT)
    in_band = _hit("RFI_SATELLITE", 80, DRIFT, rfi="GPS L1")
    seen_off = _hit("RFI_TERRESTRIAL", 80, DRIFT, rfi="cadence: seen in OFF")
    broad = _hit("BROADBAND", 80, BROAD)
    noise = _hit("NOISE", 500, DRIFT)
    scores = [h.interestingness for h in (et, strong, weak, stat, in_band, seen_off, broad)]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert et.interestingness > strong.interestingness > weak.interestingness
    assert strong.interestingness > stat.interestingness > broad.interestingness
    assert strong.interestingness > 5 * in_band.interestingness
    assert in_band.interestingness > seen_off.interestingness
    assert noise.interestingness == 0.0
    assert et.interestingness > 0.8 and in_band.interestingness < 0.1


def test_score_is_bounded_for_extreme_inputs():
    for snr in (0.0, 1e-3, 1e9):
        h = _hit("CANDIDATE_ET", snr, [0, 0, 0, 0, 0, 1.0])
        assert 0.0 <= h.interestingness <= 1.0


def test_top_candidates_only_candidates_best_first():
    rng = np.random.default_rng(0)
    hits = [_hit("NARROWBAND_DRIFTING", float(s), DRIFT, freq=1.4e9 + i)
            for i, s in enumerate(rng.uniform(10, 200, 20))]
    hits += [_hit("BROADBAND", 500, BROAD), _hit("CANDIDATE_ET", 15, DRIFT)]
    top = top_candidates(hits, n=None)
    assert len(top) == 21 and all(h.classification != "BROADBAND" for h in top)
    vals = [h.interestingness for h in top]
    assert vals == sorted(vals, reverse=True)
    assert len(top_candidates(hits, n=5)) == 5
