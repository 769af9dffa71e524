"""Coarse channels: file nfpc, n_coarse_chan, inference from known BL products, default;
the choice and its provenance reach results.json."""
import json

import numpy as np
import pytest

from mitraseti import pipeline
from mitraseti.io import ObservationFormatError, ObservationHeader, open_observation, write_fil
from mitraseti.io.coarse import resolve

COARSE_HZ = 2.9296875e6   # BL coarse channel: 187.5 MHz / 64


def header(nchans, df_hz, nfpc=0, telescope_id=6, n_spectra=16):
    return ObservationHeader(nchans=nchans, fch1=8000.0, foff=-df_hz / 1e6, tsamp=1.0,
                             n_spectra=n_spectra, nfpc=nfpc, telescope_id=telescope_id)


@pytest.mark.parametrize("nfpc, n_coarse, words", [
    (1 << 20, 3, "rev 2A"),          # GBT / Parkes 0000.fil: 2.79 Hz
    (999424, 2, "rev 1B"),           # 2.93 Hz
    (1033216, 2, "rev 1A"),          # 2.84 Hz
    (1024, 64, "mid resolution"),    # 0002.fil: 2.86 kHz
    (8, 64, "high time resolution"),  # 0001.fil: 366 kHz
])
def test_known_products_are_inferred_from_nchans_and_width(nfpc, n_coarse, words):
    got = resolve(header(n_coarse * nfpc, COARSE_HZ / nfpc), None, "x.fil")
    assert (got.n, got.nfpc) == (n_coarse, nfpc)
    assert got.source.startswith("inferred: ") and words in got.source


def test_blimpy_rule_multiple_of_2_20_whatever_the_width():
    got = resolve(header(5 << 20, 1.0, telescope_id=4), None, "x.fil")
    assert (got.n, got.nfpc) == (5, 1 << 20) and "2**20" in got.source


@pytest.mark.parametrize("nchans, df_hz", [
    (4096, COARSE_HZ / (1 << 20)),         # HSR width, but far fewer channels
    (3 * 1024 + 512, COARSE_HZ / 1024),    # MR width, nchans not a multiple of 1024
    (4096, 1.0e6),                          # no BL width
    (4096, 1.01 * COARSE_HZ / 1024),       # 1 % off the MR width
])
def test_nothing_matches_whole_band(nchans, df_hz):
    got = resolve(header(nchans, df_hz), None, "x.fil")
    assert (got.n, got.nfpc, got.source) == (1, nchans, "default: whole band")


def test_parameter_and_file_attribute_win_over_inference():
    hsr = COARSE_HZ / (1 << 20)
    by_param = resolve(header(4 << 20, hsr), 2, "x.fil")
    assert (by_param.n, by_param.nfpc, by_param.source) == (2, 2 << 20, "parameter n_coarse_chan")
    by_file = resolve(header(4 << 20, hsr, nfpc=1 << 19), None, "x.h5")
    assert (by_file.n, by_file.nfpc, by_file.source) == (8, 1 << 19, "file attribute nfpc")
    both = resolve(header(4 << 20, hsr, nfpc=1 << 19), 8, "x.h5")
    assert both.source == "file attribute nfpc"
    with pytest.raises(ObservationFormatError, match="disagrees with the file's nfpc"):
        resolve(header(4 << 20, hsr, nfpc=1 << 19), 4, "x.h5")
    with pytest.raises(ObservationFormatError, match="does not divide"):
        resolve(header(4 << 20, hsr), 3, "x.fil")
    with pytest.raises(ValueError, match="positive integer"):
        resolve(header(4 << 20, hsr), 0, "x.fil")


def mid_resolution_fil(tmp_path, n_coarse=4, nfpc=1024):
    """A small 0002-like .fil (1024 fine channels of 2.86 kHz per coarse channel) with
    one tone in coarse channel 2."""
    h = ObservationHeader(nchans=n_coarse * nfpc, fch1=1500.0, foff=-COARSE_HZ / nfpc / 1e6,
                          tsamp=1.073741824, n_spectra=16, telescope_id=6, machine_id=10)
    rng = np.random.default_rng(3)
    data = (10.0 + rng.standard_normal((16, n_coarse * nfpc))).astype(np.float32)
    data[:, 2 * nfpc + 300] += 8.0
    return write_fil(tmp_path / "mr.fil", h, data)


def test_open_observation_records_the_inferred_split(tmp_path):
    path = mid_resolution_fil(tmp_path)
    with open_observation(path) as obs:
        assert (obs.n_coarse_channels, obs.nfpc, obs.header.nfpc) == (4, 1024, 1024)
        assert obs.coarse.inferred and "mid resolution" in obs.coarse.source
        assert obs.coarse_channel(3).shape == (16, 1024)
    with open_observation(path, n_coarse_chan=1) as obs:
        assert (obs.n_coarse_channels, obs.coarse.source) == (1, "parameter n_coarse_chan")


@pytest.mark.parametrize("n_coarse_chan, want", [
    (None, {"n": 4, "nfpc": 1024}), (2, {"n": 2, "nfpc": 2048,
                                         "source": "parameter n_coarse_chan"})])
def test_results_json_says_how_the_band_was_split(tmp_path, n_coarse_chan, want):
    path = mid_resolution_fil(tmp_path)
    out = tmp_path / "out"
    pipeline.run(path, out, n_coarse_chan=n_coarse_chan, max_drift=1.0)
    doc = json.loads((out / "results.json").read_text())
    got = doc["coarse_channels"]
    assert {k: got[k] for k in want} == want
    if n_coarse_chan is None:
        assert got["source"].startswith("inferred: BL mid resolution")
    assert (doc["n_coarse_channels"], doc["nfpc"]) == (got["n"], got["nfpc"])
    tone = [s for s in doc["signals"] if abs(s["channel_index"] - (2 * 1024 + 300)) <= 1]
    assert tone and all(s["coarse_channel"] == (2 * 1024 + 300) // got["nfpc"] for s in tone)
