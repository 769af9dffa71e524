"""ON/OFF cadence analysis on real files written by mitraseti.synth and searched for real."""
import csv

import pytest

from mitraseti.io import write_fil
from mitraseti.search import SearchParams
from mitraseti.signals.cadence import CadenceError, run_cadence
from mitraseti.synth import NarrowbandSignal, NoiseModel, make_cadence

GRID = dict(n_spectra=16, n_chans=1024, df_hz=2.7939677238464355, dt_s=18.253611008,
            fch1_mhz=8421.0, noise=NoiseModel(kind="chi2", dof=32))
PARAMS = SearchParams(max_drift=1.0, snr=10.0)


def _cadence(tmp_path, presence, stem, drift=0.1, snr=60.0, seed=5):
    sig = NarrowbandSignal(channel=400.0, drift_rate=drift, snr=snr, width=2.0)
    cad = make_cadence([sig], presence=[presence], seed=seed, **GRID)
    return cad.write(tmp_path / stem, stem=stem)


def _signal_hits(res, f_lo=8420.9e6, f_hi=8421.0e6):
    return [h for f in res.files for h in f.hits if f_lo < h.frequency_hz < f_hi]


def test_on_only_drifting_signal_is_candidate_et_with_csv_and_png(tmp_path):
    paths = _cadence(tmp_path, "on", "on_only")
    res = run_cadence(paths, out_dir=tmp_path / "out", filter_level=3, params=PARAMS)
    cands = res.candidates
    assert len(cands) == 1
    ev = cands[0]
    assert ev.hit.classification == "CANDIDATE_ET" and ev.hit.rfi_source == ""
    assert ev.hit.drift_rate == pytest.approx(0.1, abs=2 * 0.0102)
    assert set(ev.matches) == {2, 4}
    assert all(m.classification == "CANDIDATE_ET" for m in ev.matches.values())
    rows = list(csv.DictReader(open(res.csv_path)))
    assert len(rows) == len(res.events) and rows[0]["classification"] == "CANDIDATE_ET"
    png = tmp_path / "out" / rows[0]["png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert ev.hit.interestingness > 0.5


def test_signal_in_all_six_is_terrestrial_seen_in_off(tmp_path):
    paths = _cadence(tmp_path, "all", "all_six")
    res = run_cadence(paths, out_dir=None, filter_level=3, params=PARAMS)
    assert res.events == []
    hits = _signal_hits(res)
    assert len(hits) >= 6
    for h in hits:
        assert h.classification == "RFI_TERRESTRIAL"
        assert h.rfi_source == "cadence: seen in OFF"
    # level 1 still lists the ON detections, flagged as seen in an OFF
    res1 = run_cadence(res.files, filter_level=1, params=PARAMS)  # reuse the searched files
    assert res1.events and all(e.seen_in_off for e in res1.events)


def test_signal_in_one_on_only_is_not_an_event(tmp_path):
    paths = _cadence(tmp_path, "first_on", "one_on")
    res = run_cadence(paths, filter_level=3, params=PARAMS)
    assert res.events == []
    assert all(h.classification != "CANDIDATE_ET" for f in res.files for h in f.hits)
    res2 = run_cadence(res.files, filter_level=2, params=PARAMS)  # absent from OFFs: level 2
    assert any(e.filter_level == 2 for e in res2.events)


def test_mismatched_files_are_rejected_naming_the_file(tmp_path):
    paths = _cadence(tmp_path, "on", "mismatch", snr=30)
    from mitraseti.io import read_observation
    hdr, data = read_observation(paths[3])
    hdr.fch1 += 0.5
    bad = tmp_path / "shifted_OFF.fil"
    write_fil(bad, hdr, data)
    with pytest.raises(CadenceError, match="shifted_OFF.fil.*fch1"):
        run_cadence([*paths[:3], bad, *paths[4:]], params=PARAMS)
    hdr2, data2 = read_observation(paths[1])
    write_fil(tmp_path / "narrow_OFF.fil", hdr2.__class__(**{**hdr2.__dict__,
              "nchans": 512}), data2[:, :512])
    with pytest.raises(CadenceError, match="narrow_OFF.fil.*nchans"):
        run_cadence([paths[0], tmp_path / "narrow_OFF.fil"], params=PARAMS)
    with pytest.raises(CadenceError, match="at least 2"):
        run_cadence(paths[:1], params=PARAMS)
    with pytest.raises(CadenceError, match="even number"):
        run_cadence(paths[:5], params=PARAMS)
    with pytest.raises(CadenceError, match="does not exist"):
        run_cadence([paths[0], tmp_path / "nope.fil"], params=PARAMS)


def test_given_per_file_hits_are_reused(tmp_path):
    """(header, hits, data) tuples: no file is read; the ON-only tone is CANDIDATE_ET."""
    from mitraseti.search import search_coarse_channel
    sig = NarrowbandSignal(channel=400.0, drift_rate=-0.1, snr=60.0, width=2.0)
    cad = make_cadence([sig], presence=["on"], seed=9, **GRID)
    items = []
    for obs in cad.observations:
        _, hits = search_coarse_channel(obs.data, obs.header, PARAMS)
        items.append((obs.header, hits, obs.data))
    res = run_cadence(items, out_dir=tmp_path, params=PARAMS)
    assert len(res.candidates) == 1 and len(res.png_paths) == len(res.events)
