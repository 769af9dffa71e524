"""Every export of write_all exists and is valid, for signals and for zero hits."""
from __future__ import annotations

import csv
import json

import jsonschema
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from PIL import Image

from mitraseti.export import FILENAMES, SCHEMA_PATH, write_all
from mitraseti.search.hit import CSV_COLUMNS

# The CSV head given by the API reference (GET /jobs/{id}/download?format=csv).
API_CSV_PREFIX = "source_name,frequency_hz,drift_rate,snr,classification,interestingness,"
FITS_COLUMNS = ["SOURCE", "FREQ_HZ", "DRIFT_RATE", "SNR", "CLASS", "INTEREST", "RFI_SRC",
                "DET_SRC"]
API_CANDIDATE_KEYS = {"frequency_hz", "drift_rate", "snr", "classification",
                      "interestingness", "rfi_source", "source"}


@pytest.fixture
def written(result, tmp_path):
    return result, write_all(result, tmp_path / "out")


@pytest.fixture
def written_empty(empty_result, tmp_path):
    return empty_result, write_all(empty_result, tmp_path / "out_empty")


def test_every_format_written(written):
    result, outputs = written
    for fmt, name in FILENAMES.items():
        assert outputs[fmt].name == name and outputs[fmt].stat().st_size > 0
    # one stamp per top candidate (two NARROWBAND_DRIFTING hits in the fixture)
    assert sorted(k for k in outputs if k.startswith("stamp_")) == ["stamp_00", "stamp_01"]
    assert result.outputs == outputs


def test_results_json_matches_schema_and_counts(written):
    result, outputs = written
    doc = json.loads(outputs["json"].read_text())
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))
    assert (doc["raw_hits"], doc["filtered_hits"], doc["candidates"]) == (8, 4, 2)
    assert len(doc["raw_hit_list"]) == 8 and len(doc["signals"]) == 4
    top = doc["top_candidates"]
    assert [c["interestingness"] for c in top] == [0.81, 0.64]
    assert all(set(c) == API_CANDIDATE_KEYS for c in top)
    assert doc["header"]["nchans"] == 4096 and doc["parameters"]["max_drift"] == 4.0
    assert set(doc["timings"]) >= {"ingest", "dedoppler", "classify", "export"}
    # processing time covers every stage, including writing the exports
    assert doc["processing_time_seconds"] == pytest.approx(sum(doc["timings"].values()),
                                                           abs=2e-3)
    assert doc["timings"]["export"] > 0
    assert result.summary()["top_candidates"] == top


def test_schema_rejects_a_broken_document(written):
    _, outputs = written
    doc = json.loads(outputs["json"].read_text())
    doc["raw_hits"] = "eight"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))


def test_signals_csv_header_and_rows(written):
    result, outputs = written
    text = outputs["csv"].read_text()
    head = text.splitlines()[0]
    assert head.startswith(API_CSV_PREFIX)
    assert head == ",".join(CSV_COLUMNS)
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 4
    for row, hit in zip(rows, result.filtered_hits):
        assert row["source_name"] == "TEST_SRC"
        assert float(row["frequency_hz"]) == hit.frequency_hz  # full precision kept
        assert float(row["drift_rate"]) == hit.drift_rate
        assert row["classification"] == hit.classification


def test_catalog_json_has_sky_position(written):
    _, outputs = written
    doc = json.loads(outputs["catalog_json"].read_text())
    assert doc["n_signals"] == 4
    s = doc["signals"][0]
    # header src_raj 174000.0 = 17h40m00s = 265 deg, src_dej -121500.0 = -12d15m00s
    assert s["ra_deg"] == pytest.approx(265.0) and s["dec_deg"] == pytest.approx(-12.25)
    assert s["ra_hms"] == "17:40:00.00" and s["dec_dms"] == "-12:15:00.0"
    assert {"snr", "classification", "rfi_source", "frequency_hz"} <= set(s)


def test_classified_json_keeps_probabilities(written):
    _, outputs = written
    doc = json.loads(outputs["classified"].read_text())
    sig = doc["signals"]
    assert len(sig) == 4 and doc["class_counts"]["NARROWBAND_DRIFTING"] == 2
    assert sig[0]["probabilities"]["NARROWBAND_DRIFTING"] == 0.9
    assert {s["source"] for s in sig} == {"dedoppler", "matched_filter"}
    assert all("features" in s and "confidence" in s for s in sig)


def test_catalog_fits_columns_units_header(written):
    result, outputs = written
    with fits.open(outputs["fits"]) as hdul:
        hdul.verify("exception")
        table_hdu = hdul["SIGNALS"]
        assert table_hdu.columns.names == FITS_COLUMNS
        units = {c.name: c.unit for c in table_hdu.columns}
        assert units["FREQ_HZ"] == "Hz" and units["DRIFT_RATE"] == "Hz/s"
        hdr = hdul[0].header
        assert hdr["TELESCOP"] == "GBT" and hdr["OBJECT"] == "TEST_SRC"
        assert hdr["MJD-OBS"] == result.header.tstart and hdr["TSTART"] == result.header.tstart
        # FITS fixed-format cards keep 20 characters: foff to ~1e-13 relative
        assert hdr["FOFF"] == pytest.approx(result.header.foff, rel=1e-12)
        assert hdr["FCH1"] == result.header.fch1 and hdr["TSAMP"] == result.header.tsamp
        assert hdr["RA"] == pytest.approx(265.0) and hdr["DEC"] == pytest.approx(-12.25)
        assert hdr["SOFTWARE"] == "mitraseti" and hdr["SWVER"]
    table = Table.read(outputs["fits"])
    assert len(table) == 4 and str(table["FREQ_HZ"].unit) == "Hz"
    assert table["FREQ_HZ"][0] == result.filtered_hits[0].frequency_hz
    assert list(table["CLASS"]) == [h.classification for h in result.filtered_hits]
    assert table["RFI_SRC"][3] == "GPS L1" and table["DET_SRC"][3] == "matched_filter"


def test_pngs_sizes(written):
    _, outputs = written
    with Image.open(outputs["waterfall"]) as im:
        assert im.format == "PNG" and im.width >= 1000
    with Image.open(outputs["waterfall_thumb"]) as im:
        assert im.format == "PNG" and 0 < im.width <= 320
    with Image.open(outputs["stamp_00"]) as im:
        assert im.format == "PNG" and im.width > im.height


def test_zero_hits_export_valid_files(written_empty):
    result, outputs = written_empty
    doc = json.loads(outputs["json"].read_text())
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))
    assert (doc["raw_hits"], doc["filtered_hits"], doc["candidates"]) == (0, 0, 0)
    assert doc["top_candidates"] == [] and doc["signals"] == []
    assert outputs["csv"].read_text() == ",".join(CSV_COLUMNS) + "\n"
    with fits.open(outputs["fits"]) as hdul:
        hdul.verify("exception")
        assert hdul["SIGNALS"].columns.names == FITS_COLUMNS
    assert len(Table.read(outputs["fits"])) == 0
    assert json.loads(outputs["catalog_json"].read_text())["signals"] == []
    with Image.open(outputs["waterfall_thumb"]) as im:
        assert im.width <= 320
    assert not any(k.startswith("stamp_") for k in outputs)


def test_rerun_into_same_dir_removes_stale_stamps(result, empty_result, tmp_path):
    out = tmp_path / "again"
    write_all(result, out)
    assert len(list((out / "stamps").glob("cand_*.png"))) == 2
    write_all(empty_result, out)
    assert list((out / "stamps").glob("cand_*.png")) == []


def test_waterfall_keeps_one_channel_signal():
    """A MAX reduction keeps a one-channel spike; coarse channels meet seamlessly."""
    from mitraseti.export.waterfall import WaterfallAccumulator
    from mitraseti.io.header import ObservationHeader

    header = ObservationHeader(nchans=3 * 5000, fch1=1000.0, foff=-1e-6, tsamp=1.0,
                               n_spectra=8)
    rng = np.random.default_rng(1)
    acc = WaterfallAccumulator(header, max_columns=1000, max_rows=4)  # 15 ch x 2 spectra
    spike = 5003                                           # column 333 straddles blocks 0/1
    for i in range(3):
        block = rng.normal(10.0, 1.0, (8, 5000)).astype(np.float32)
        if i * 5000 <= spike < (i + 1) * 5000:
            block[:, spike - i * 5000] += 50.0
        acc.add(block, i * 5000)
    wf = acc.result()
    assert wf.power.shape == (4, 1000) and np.isfinite(wf.power).all()
    assert (wf.channel_factor, wf.time_factor) == (15, 2)
    col = spike // wf.channel_factor
    assert np.argmax(wf.power.mean(axis=0)) == col
    assert wf.power[:, col].min() > 20   # sigma units: far above every noise column
    assert wf.freq_edges_mhz[0] > wf.freq_edges_mhz[1]   # foff < 0


def test_signals_hdu_is_the_one_from_columns_gives(written):
    """build_hdul avoids BinTableHDU.from_columns (which imports astropy.table): the HDU
    must be the same, header cards and rows."""
    from mitraseti.export.fits import build_hdul

    result, _ = written
    ours = build_hdul(result)["SIGNALS"]
    reference = fits.BinTableHDU.from_columns(ours.columns, name="SIGNALS")
    for key, value, comment in ours.header.cards:
        if key not in reference.header:
            reference.header[key] = (value, comment)
    assert [tuple(c) for c in ours.header.cards] == [tuple(c) for c in reference.header.cards]
    assert ours.data.tobytes() == reference.data.tobytes()
    assert len(ours.data) == len(result.filtered_hits) == 4
