"""The pipeline on real telescope files (/work/shared/data/real, see its SOURCES.md)."""
from __future__ import annotations

import json

import jsonschema
from astropy.io import fits
from astropy.table import Table

from mitraseti import pipeline
from mitraseti.export import FILENAMES, SCHEMA_PATH
from mitraseti.search.hit import CSV_COLUMNS


def test_real_gbt_noise_gives_zero_hits_and_valid_exports(real_data_dir, tmp_path):
    """Real BL fine-resolution noise (top S/N about 6.6 per SOURCES.md): nothing at S/N 10,
    and every export is still a valid, empty product."""
    path = real_data_dir / "gbt_DIAG_SGR_B2_finres_32x1024_setigen_sample.fil"
    result = pipeline.run(path, tmp_path, max_drift=1.0, snr=10.0)
    assert result.filtered_hits == [] and result.summary()["top_candidates"] == []
    for name in FILENAMES.values():
        assert (tmp_path / name).stat().st_size > 0
    doc = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))
    assert doc["header"]["source_name"] == "DIAG_SGR_B2" and doc["header"]["nchans"] == 1024
    assert (tmp_path / "signals.csv").read_text() == ",".join(CSV_COLUMNS) + "\n"
    with fits.open(tmp_path / "catalog.fits") as hdul:
        hdul.verify("exception")
        assert hdul[0].header["TELESCOP"] == "GBT"
        assert hdul[0].header["MJD-OBS"] == doc["header"]["tstart"]
    assert len(Table.read(tmp_path / "catalog.fits")) == 0
    dat = (tmp_path / "hits.dat").read_text().splitlines()
    assert len(dat) == 9 and dat[3] == "# Source:DIAG_SGR_B2"


def test_real_ilofar_h5_finds_the_injected_tone(real_data_dir, tmp_path):
    """Real I-LOFAR noise with one setigen tone: channel 56 (153.000417 MHz) at t = 0,
    drift +2.7098 Hz/s (SOURCES.md), in BL HDF5 with bitshuffle compression."""
    path = real_data_dir / "ilofar_TIC81831095_inj1_setigen.h5"
    result = pipeline.run(path, tmp_path, max_drift=4.0, snr=10.0)
    tones = [h for h in result.filtered_hits if abs(h.channel_index - 56) <= 2]
    assert tones, [(h.channel_index, h.drift_rate) for h in result.filtered_hits]
    best = max(tones, key=lambda h: h.snr)
    assert abs(best.frequency_hz - 153.000417e6) < 3 * 2.98
    assert abs(best.drift_rate - 2.7098) < 0.05
    rows = (tmp_path / "signals.csv").read_text().splitlines()
    assert len(rows) == 1 + len(result.filtered_hits)
    catalog = json.loads((tmp_path / "catalog.json").read_text())
    assert catalog["observation"]["source_name"] == "TICObj"
