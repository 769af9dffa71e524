"""Writers produce files the readers read back losslessly; coarse-channel iteration."""
import struct

import h5py
import hdf5plugin  # noqa: F401  (registers the bitshuffle filter for plain h5py)
import numpy as np
import pytest

from mitraseti.io import (FilWriter, ObservationFormatError, frequencies_hz, open_observation,
                          read_observation, write_fil, write_h5)
from mitraseti.synth import make_header as synth_header
from mitraseti.synth.observation import VOYAGER_DF_HZ


def make_header(nchans=48, nbits=32, nifs=1, foff=-VOYAGER_DF_HZ / 1e6, nfpc=0, **kw):
    """A Voyager-like header (:func:`mitraseti.synth.make_header`) with every metadata
    field the writers must keep; ``foff`` in MHz."""
    return synth_header(n_chans=nchans, df_hz=abs(foff) * 1e6, fch1_mhz=8421.38671875,
                        foff_sign=1 if foff > 0 else -1, tstart=58000.25,
                        source_name="VOYAGER1", n_coarse_chan=nchans // nfpc if nfpc else None,
                        nbits=nbits, nifs=nifs, telescope_id=6, machine_id=10,
                        src_raj=171010.0, src_dej=121010.5, az_start=12.5, za_start=45.25,
                        rawdatafile="guppi_0001.raw", **kw)


def random_data(rng, nbits, shape):
    if nbits == 32:
        return rng.normal(100.0, 10.0, shape).astype(np.float32)
    return rng.integers(0, 2 ** nbits, shape).astype(np.float32)


HEADER_FIELDS = ["nchans", "fch1", "foff", "tsamp", "nbits", "nifs", "tstart", "source_name",
                 "telescope_id", "machine_id", "data_type", "rawdatafile", "src_raj",
                 "src_dej", "az_start", "za_start", "barycentric", "pulsarcentric", "ibeam",
                 "nbeams"]


@pytest.mark.parametrize("foff", [-2.7939677238464355e-06, 2.7939677238464355e-06])
@pytest.mark.parametrize("nbits", [1, 2, 4, 8, 16, 32])
def test_fil_round_trip_every_nbits_and_foff_sign(tmp_path, nbits, foff):
    rng = np.random.default_rng(nbits)
    header = make_header(nchans=37, nbits=nbits, foff=foff)  # 37: rows not byte-aligned
    data = random_data(rng, nbits, (5, 37))
    path = write_fil(tmp_path / "x.fil", header, data)
    back, read = read_observation(path)
    assert read.dtype == np.float32 and np.array_equal(read, data)
    assert back.n_spectra == 5
    for name in HEADER_FIELDS:
        assert getattr(back, name) == getattr(header, name), name
    freqs = frequencies_hz(back)
    assert np.all(np.sign(np.diff(freqs)) == np.sign(foff))
    assert freqs[0] == pytest.approx(8421.38671875e6)


@pytest.mark.parametrize("nbits", [8, 16, 32])
def test_h5_round_trip(tmp_path, nbits):
    rng = np.random.default_rng(nbits)
    header = make_header(nchans=64, nbits=nbits, nfpc=16)
    data = random_data(rng, nbits, (6, 64))
    path = write_h5(tmp_path / "x.h5", header, data)
    back, read = read_observation(path)
    assert np.array_equal(read, data)
    for name in HEADER_FIELDS:
        want, got = getattr(header, name), getattr(back, name)
        if name in ("src_raj", "src_dej"):  # decimal in .h5, packed in the header
            assert got == pytest.approx(want, abs=1e-8), name
        else:
            assert got == want, name
    assert back.nfpc == 16


def test_h5_is_bl_layout_readable_by_plain_h5py(tmp_path):
    header = make_header(nchans=32)
    data = np.arange(4 * 32, dtype=np.float32).reshape(4, 32)
    path = write_h5(tmp_path / "bl.h5", header, data)
    with h5py.File(path, "r") as f:
        assert f.attrs["CLASS"] == "FILTERBANK" and "VERSION" in f.attrs
        ds = f["data"]
        assert ds.shape == (4, 1, 32) and ds.dtype == np.float32
        plist = ds.id.get_create_plist()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        assert 32008 in filters  # bitshuffle (with LZ4)
        assert np.array_equal(ds[:, 0, :], data)
        assert ds.attrs["fch1"] == header.fch1 and ds.attrs["nchans"] == 32
        assert ds.attrs["src_raj"] == pytest.approx(17 + 10 / 60 + 10 / 3600)  # hours


def test_h5_mask_round_trip(tmp_path):
    header = make_header(nchans=16)
    data = np.ones((3, 16), dtype=np.float32)
    mask = np.zeros((3, 16), dtype=bool)
    mask[1, 4:7] = True
    path = write_h5(tmp_path / "m.h5", header, data, mask=mask)
    with open_observation(path) as obs:
        assert np.array_equal(obs.read_mask(), mask)
        assert obs.mask.shape == (3, 1, 16)


@pytest.mark.parametrize("writer, suffix", [(write_fil, ".fil"), (write_h5, ".h5")])
def test_nifs_above_one_reads_if0_by_default(tmp_path, writer, suffix):
    rng = np.random.default_rng(3)
    header = make_header(nchans=20, nifs=4)
    data = rng.normal(size=(5, 4, 20)).astype(np.float32)
    path = writer(tmp_path / f"pol{suffix}", header, data)
    with open_observation(path) as obs:
        assert obs.if_index == 0 and obs.header.nifs == 4
        assert np.array_equal(obs.read(), data[:, 0, :])
    with open_observation(path, if_index=2) as obs:
        assert np.array_equal(obs.coarse_channel(0), data[:, 2, :])
    with pytest.raises(ValueError, match="if_index"):
        open_observation(path, if_index=4)


def test_sub_byte_nifs_window_reads(tmp_path):
    rng = np.random.default_rng(4)
    header = make_header(nchans=13, nbits=2, nifs=3)
    data = rng.integers(0, 4, (9, 3, 13)).astype(np.float32)
    path = write_fil(tmp_path / "p.fil", header, data)
    with open_observation(path, if_index=1) as obs:
        assert np.array_equal(obs.read(3, 8, 2, 11), data[3:8, 1, 2:11])


def test_coarse_channels_from_nfpc_attribute(tmp_path):
    rng = np.random.default_rng(5)
    data = rng.normal(size=(4, 96)).astype(np.float32)
    path = write_h5(tmp_path / "c.h5", make_header(nchans=96, nfpc=32), data)
    with open_observation(path) as obs:
        assert (obs.n_coarse_channels, obs.nfpc) == (3, 32)
        got = dict(obs.iter_coarse_channels())
        assert sorted(got) == [0, 1, 2]
        for i, block in got.items():
            assert np.array_equal(block, data[:, 32 * i:32 * (i + 1)])
    with open_observation(path, n_coarse_chan=3) as obs:  # agreeing parameter is fine
        assert obs.nfpc == 32
    with pytest.raises(ObservationFormatError, match="disagrees with the file's nfpc"):
        open_observation(path, n_coarse_chan=4)


def test_coarse_channels_from_parameter_or_whole_band(tmp_path):
    data = np.arange(3 * 60, dtype=np.float32).reshape(3, 60)
    path = write_fil(tmp_path / "c.fil", make_header(nchans=60), data)
    with open_observation(path, n_coarse_chan=4) as obs:
        assert (obs.n_coarse_channels, obs.nfpc, obs.header.nfpc) == (4, 15, 15)
        assert np.array_equal(obs.coarse_channel(3), data[:, 45:60])
        with pytest.raises(IndexError, match="coarse channel 4"):
            obs.coarse_channel(4)
    with open_observation(path) as obs:
        assert (obs.n_coarse_channels, obs.nfpc, obs.header.nfpc) == (1, 60, 0)
    with pytest.raises(ObservationFormatError, match="does not divide nchans = 60"):
        open_observation(path, n_coarse_chan=7)


def test_fil_extra_keywords_and_frequency_table_are_kept(tmp_path):
    header = make_header(nchans=4, foff=0.5)
    header.extra.update(period=0.25, refdm=56.77, npuls=7, nbins=64,
                        fchannel=[8421.38671875 + 0.5 * i for i in range(4)])
    data = np.ones((2, 4), dtype=np.float32)
    back, _ = read_observation(write_fil(tmp_path / "e.fil", header, data))
    assert back.extra == header.extra
    assert (back.fch1, back.foff, back.nchans) == (header.fch1, 0.5, 4)


def test_fil_writer_streams_chunks_and_updates_nsamples(tmp_path):
    header = make_header(nchans=10, nbits=4)
    header.extra["nsamples"] = 0
    rng = np.random.default_rng(6)
    data = rng.integers(0, 16, (7, 10)).astype(np.float32)
    with FilWriter(tmp_path / "s.fil", header) as w:
        for t0 in range(0, 7, 3):
            w.write(data[t0:t0 + 3])
    back, read = read_observation(tmp_path / "s.fil")
    assert np.array_equal(read, data) and back.extra["nsamples"] == 7


def test_hand_built_sub_byte_file_unpacks_low_bits_first(tmp_path):
    """A file assembled here byte by byte (not by write_fil): 2-bit samples 0,1,2,3 are
    stored in one byte as 0b11_10_01_00 (first sample in the lowest bits)."""
    def s(text):
        return struct.pack("<i", len(text)) + text.encode()
    head = (s("HEADER_START") + s("nchans") + struct.pack("<i", 4) + s("nbits")
            + struct.pack("<i", 2) + s("fch1") + struct.pack("<d", 1400.0) + s("foff")
            + struct.pack("<d", -1.0) + s("tsamp") + struct.pack("<d", 1.0)
            + s("HEADER_END"))
    path = tmp_path / "hand.fil"
    path.write_bytes(head + bytes([0b11100100, 0b00011011]))
    header, data = read_observation(path)
    assert header.nifs == 1 and header.n_spectra == 2
    assert data.tolist() == [[0, 1, 2, 3], [3, 2, 1, 0]]


def test_writes_are_atomic(tmp_path):
    path = tmp_path / "a.fil"
    write_fil(path, make_header(nchans=8), np.zeros((2, 8), np.float32))
    before = path.read_bytes()
    with pytest.raises(ValueError, match="0..255"):
        write_fil(path, make_header(nchans=8, nbits=8), np.full((2, 8), 300.0, np.float32))
    with pytest.raises(ValueError):
        write_h5(tmp_path / "a.h5", make_header(nchans=8), np.zeros((2, 9), np.float32))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fil"]  # no temp files left


def test_nonfinite_samples_are_replaced_by_the_spectrum_median(tmp_path, caplog):
    data = np.arange(30, dtype=np.float32).reshape(3, 10)
    data[1, 2] = np.nan
    data[2, 5] = np.inf
    path = write_fil(tmp_path / "nan.fil", make_header(nchans=10), data)
    with open_observation(path) as obs:
        block = obs.read()
        assert obs.n_nonfinite == 2 and np.isfinite(block).all()
        assert block[1, 2] == np.median(np.delete(data[1], 2))
        assert block[2, 5] == np.median(np.delete(data[2], 5))
        assert np.array_equal(block[0], data[0])
    assert "replaced 2 NaN/Inf" in caplog.text


def test_nonfinite_whole_spectrum_uses_window_median_and_all_nan_window_fails(tmp_path):
    data = np.arange(30, dtype=np.float32).reshape(3, 10)
    data[0, :] = np.nan
    data[:, 9] = np.nan
    path = write_fil(tmp_path / "nan.fil", make_header(nchans=10), data)
    with open_observation(path) as obs:
        block = obs.read(0, 3, 0, 9)
        assert np.all(block[0] == np.median(data[1:, :9]))
        with pytest.raises(ObservationFormatError, match="every sample of spectra 0..2"):
            obs.read(0, 3, 9, 10)


def test_sub_byte_huge_spectra_path_reads_only_the_window(tmp_path, monkeypatch):
    import mitraseti.io.fil as fil
    monkeypatch.setattr(fil, "CHUNK_SAMPLES", 16)  # force the per-spectrum window path
    rng = np.random.default_rng(8)
    data = rng.integers(0, 4, (6, 2, 21)).astype(np.float32)
    path = write_fil(tmp_path / "big.fil", make_header(nchans=21, nbits=2, nifs=2), data)
    with open_observation(path, if_index=1) as obs:
        assert np.array_equal(obs.read(1, 6, 3, 20), data[1:6, 1, 3:20])
        assert np.array_equal(obs.read(), data[:, 1, :])
