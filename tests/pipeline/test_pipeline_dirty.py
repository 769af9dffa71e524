"""The whole pipeline on a dirty coarse channel, read back from a float64 .h5 file as
setigen and blimpy write them: tones found and labelled, the broadband feature reported
once as BROADBAND, the DC spike blanked and counted in results.json."""
from __future__ import annotations

import csv
import json

import h5py
import jsonschema
import numpy as np

from mitraseti import pipeline
from mitraseti.export import SCHEMA_PATH
from mitraseti.synth import (Bandpass, BroadbandRFI, DCSpikes, Impairments, NarrowbandSignal,
                             NoiseModel, make_observation)


def write_float64_h5(path, obs) -> None:
    """The layout blimpy's Waterfall.write_to_hdf5 produces: float64 data, nbits = 32,
    no nfpc attribute."""
    h = obs.header
    with h5py.File(path, "w") as f:
        f.attrs["CLASS"] = "FILTERBANK"
        f.attrs["VERSION"] = "1.0"
        d = f.create_dataset("data", data=obs.data.astype(np.float64)[:, None, :])
        for key, value in (("fch1", h.fch1), ("foff", h.foff), ("tsamp", h.tsamp),
                           ("tstart", h.tstart), ("nchans", h.nchans), ("nifs", 1),
                           ("nbits", 32), ("source_name", "DIRTY"), ("src_raj", 0.0),
                           ("src_dej", 0.0), ("telescope_id", 6), ("machine_id", 10),
                           ("data_type", 1)):
            d.attrs[key] = value


def test_dirty_float64_file_end_to_end(tmp_path):
    n = 1 << 16
    tones = [NarrowbandSignal(channel=3000.0, drift_rate=0.6, snr=40.0),        # roll-off
             NarrowbandSignal(channel=20500.0, drift_rate=-0.8, snr=40.0),      # on the box
             NarrowbandSignal(channel=45000.0, drift_rate=1.2, snr=35.0)]
    imp = Impairments(bandpass=Bandpass(edge_level=0.33), dc_spikes=DCSpikes(10.0),
                      broadband=[BroadbandRFI(channel=20000.0, width_hz=6000.0,
                                              shape="box", amplitude=1.5)])
    obs = make_observation(n_spectra=16, n_chans=n, noise=NoiseModel(kind="chi2", dof=16),
                           signals=tones, seed=21, impairments=imp)
    path = tmp_path / "dirty.h5"
    write_float64_h5(path, obs)
    out = tmp_path / "out"
    pipeline.run(path, out, n_coarse_chan=1)
    results = json.loads((out / "results.json").read_text())
    jsonschema.validate(results, json.loads(SCHEMA_PATH.read_text()))
    assert results["baseline"]["dc_channels_blanked"] >= 1
    assert results["baseline"]["broadband_features"] == 1
    assert any("nbits" in w for w in results["warnings"])  # header vs float64 data

    with open(out / "signals.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    broad = [r for r in rows if r["classification"] == "BROADBAND"]
    assert len(broad) == 1
    assert abs(int(broad[0]["channel_index"]) - 20000) < 200
    for s in obs.truth:
        near = [r for r in rows if abs(int(r["channel_index"]) - s.channel) <= 4]
        assert any(r["classification"] == "NARROWBAND_DRIFTING" for r in near), (s.channel, rows)
    assert not any(abs(int(r["channel_index"]) - n // 2) <= 2 for r in rows)  # DC blanked
    assert len(rows) == len(obs.truth) + 1
