""".h5 files whose dataset dtype is not the one the header's nbits names (as blimpy's
Waterfall.write_to_hdf5 and setigen's Frame.save_h5 write them): the dtype decides, the
data are converted to float32 per read window, and the disagreement becomes a warning that
reaches results.json."""
import json

import h5py
import numpy as np
import pytest

from mitraseti import pipeline
from mitraseti.io import ObservationFormatError, open_observation

N_T, N_CHAN = 16, 256
DF_HZ = 2.7939677238464355
TONE_CHANNEL, TONE_SLOPE = 90, 1.0   # start channel, channels per spectrum


def blimpy_layout(path, data, **attrs):
    """Write ``data`` (n_spectra, n_ifs, nchans) the way blimpy lays out a BL .h5: file
    attributes CLASS / VERSION, header values as attributes of ``data``, labelled dims."""
    with h5py.File(path, "w") as f:
        f.attrs["CLASS"] = "FILTERBANK"
        f.attrs["VERSION"] = "1.0"
        ds = f.create_dataset("data", data=data, chunks=(1, 1, data.shape[2]))
        for axis, label in enumerate(("time", "feed_id", "frequency")):
            ds.dims[axis].label = label
        for key, value in attrs.items():
            ds.attrs[key] = value
    return path


def header_attrs(nbits, **extra):
    attrs = dict(fch1=8421.38671875, foff=-DF_HZ / 1e6, tsamp=18.253611008, nbits=nbits,
                 nchans=N_CHAN, nifs=1, tstart=58000.25, telescope_id=6, machine_id=10,
                 source_name=np.bytes_(b"VOYAGER1"), src_raj=17.1694, src_dej=12.1686,
                 data_type=1)
    attrs.update(extra)
    return attrs


def observation_data(dtype):
    """Noise plus one drifting tone, in the value range of ``dtype``."""
    rng = np.random.default_rng(7)
    kind = np.dtype(dtype).kind
    mean, std, tone = (0.0, 10.0, 60.0) if kind == "i" else (1000.0, 10.0, 60.0)
    data = mean + std * rng.standard_normal((N_T, 1, N_CHAN))
    for t in range(N_T):
        data[t, 0, TONE_CHANNEL + int(TONE_SLOPE * t)] += tone
    if kind in "iu":
        info = np.iinfo(dtype)
        data = np.clip(np.rint(data), info.min, info.max)
    return data.astype(dtype)


CASES = [("float64", "<f8", 32), ("int8", "i1", 8), ("uint16", "<u2", 32)]


@pytest.mark.parametrize("name, dtype, nbits_attr", CASES, ids=[c[0] for c in CASES])
def test_dtype_decides_and_values_survive(tmp_path, name, dtype, nbits_attr):
    data = observation_data(dtype)
    path = blimpy_layout(tmp_path / f"{name}.h5", data, **header_attrs(nbits_attr))
    with open_observation(path) as obs:
        assert obs.header.nbits == np.dtype(dtype).itemsize * 8
        block = obs.read()
        window = obs.read(3, 9, 17, 200)
        warnings = list(obs.warnings)
    want = data[:, 0, :].astype(np.float32)
    assert block.dtype == np.float32 and np.array_equal(block, want)
    assert np.array_equal(window, want[3:9, 17:200])
    disagrees = nbits_attr != np.dtype(dtype).itemsize * 8
    assert len(warnings) == int(disagrees)
    if disagrees:
        assert str(path) in warnings[0] and f"nbits = {nbits_attr}" in warnings[0]
        assert np.dtype(dtype).name in warnings[0]


def test_float64_wider_than_a_read_piece_is_cast_piece_by_piece(tmp_path, monkeypatch):
    from mitraseti.io import h5 as h5mod
    monkeypatch.setattr(h5mod, "READ_PIECE_BYTES", 8 * 100)  # 100 float64 per piece
    data = observation_data("<f8")
    path = blimpy_layout(tmp_path / "wide.h5", data, **header_attrs(32))
    with open_observation(path) as obs:
        assert np.array_equal(obs.read(1, 5, 3, 251), data[1:5, 0, 3:251].astype(np.float32))


def test_missing_optional_attributes_and_no_nbits(tmp_path):
    data = observation_data("<f8")
    path = blimpy_layout(tmp_path / "bare.h5", data, fch1=1400.0, foff=-1e-6, tsamp=1.0)
    with open_observation(path) as obs:
        assert obs.warnings == [] and obs.header.nbits == 64
        assert (obs.header.nchans, obs.header.nifs, obs.header.nfpc) == (N_CHAN, 1, 0)
        assert obs.header.source_name == "unknown"


def test_non_numeric_nbits_is_a_warning_but_a_wrong_shape_is_an_error(tmp_path):
    data = observation_data("<f8")
    path = blimpy_layout(tmp_path / "text.h5", data, **header_attrs("32"))
    with open_observation(path) as obs:
        assert len(obs.warnings) == 1 and "nbits = '32'" in obs.warnings[0]
    bad = blimpy_layout(tmp_path / "shape.h5", data, **header_attrs(32, nchans=N_CHAN + 1))
    with pytest.raises(ObservationFormatError, match="nchans = 257 does not match"):
        open_observation(bad)


def test_bool_and_complex_data_are_refused(tmp_path):
    for dtype in ("?", "<c8"):
        path = blimpy_layout(tmp_path / "odd.h5", np.ones((2, 1, 4), dtype=dtype),
                             fch1=1400.0, foff=-1.0, tsamp=1.0)
        with pytest.raises(ObservationFormatError, match="expected integers or floats"):
            open_observation(path)


@pytest.mark.parametrize("name, dtype, nbits_attr", CASES, ids=[c[0] for c in CASES])
def test_pipeline_finds_the_tone_and_reports_the_warning(tmp_path, name, dtype, nbits_attr):
    path = blimpy_layout(tmp_path / f"{name}.h5", observation_data(dtype),
                         **header_attrs(nbits_attr))
    out = tmp_path / "out"
    result = pipeline.run(path, out, max_drift=1.0, snr=10.0)
    doc = json.loads((out / "results.json").read_text())
    reader_warnings = [w for w in doc["warnings"] if "nbits" in w]
    assert reader_warnings == ([] if nbits_attr == np.dtype(dtype).itemsize * 8
                               else [w for w in result.warnings if "nbits" in w])
    if nbits_attr != np.dtype(dtype).itemsize * 8:
        assert len(reader_warnings) == 1 and str(path) in reader_warnings[0]
    assert doc["header"]["nbits"] == np.dtype(dtype).itemsize * 8
    drift_hz_s = -TONE_SLOPE * DF_HZ / 18.253611008   # foff < 0: channels up = Hz down
    near = [s for s in doc["signals"] if abs(s["channel_index"] - TONE_CHANNEL) <= 1]
    assert near, f"tone not found in {[s['channel_index'] for s in doc['signals']]}"
    assert near[0]["drift_rate"] == pytest.approx(drift_hz_s, rel=0.1)
