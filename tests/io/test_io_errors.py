"""Malformed input raises ObservationFormatError naming the file and the problem."""
import struct

import h5py
import numpy as np
import pytest

from mitraseti.io import (ObservationFormatError, ObservationHeader, open_observation,
                          read_observation, write_h5)

from sigproc_bytes import basic_items, header_bytes, sstr


def write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def expect_error(path, pattern):
    with pytest.raises(ObservationFormatError, match=pattern) as info:
        read_observation(path)
    assert str(path) in str(info.value) and info.value.path == str(path)
    return info.value


FLOATS_2x4 = np.zeros((2, 4), np.float32).tobytes()


def test_good_hand_built_file_reads(tmp_path):
    header, data = read_observation(write(tmp_path, "ok.fil", header_bytes(basic_items())
                                          + FLOATS_2x4))
    assert data.shape == (2, 4) and header.source_name == "test"


@pytest.mark.parametrize("content, pattern", [
    (b"", "truncated"),
    (b"SIMPLE  =                    T", "length"),
    (sstr("HEADER_STOP") + sstr("nchans"), "missing HEADER_START"),
    (header_bytes(basic_items(), end=False), "truncated"),
    (header_bytes(basic_items() + [("nchans_x", "<i", 3)]), "unknown SIGPROC header keyword"),
    (header_bytes(basic_items() + [("period", "<d", 1.0), ("period", "<d", 2.0)]), "twice"),
    (header_bytes(basic_items()[:-3]) + FLOATS_2x4, "lacks required keyword"),
    (header_bytes(basic_items(nchans=0)) + FLOATS_2x4, "nchans = 0"),
    (header_bytes(basic_items(nbits=12)) + FLOATS_2x4, "unsupported nbits = 12"),
    (header_bytes(basic_items(nifs=0)) + FLOATS_2x4, "nifs = 0"),
    (header_bytes(basic_items(tsamp=0.0)) + FLOATS_2x4, "tsamp = 0.0"),
    (header_bytes(basic_items(tsamp=-1.0)) + FLOATS_2x4, "tsamp = -1.0"),
    (header_bytes(basic_items(foff=0.0)) + FLOATS_2x4, "foff = 0"),
    (header_bytes(basic_items(foff=float("nan"))) + FLOATS_2x4, "foff must be a finite"),
    (header_bytes(basic_items()) + FLOATS_2x4[:-3], "not a whole number of spectra"),
    (header_bytes(basic_items(nifs=3)) + FLOATS_2x4, "not a whole number of spectra"),
    (header_bytes(basic_items()) + FLOATS_2x4[:16], "holds 1 spectra"),
    (header_bytes(basic_items()), "holds 0 spectra"),
    (header_bytes(basic_items(), end=False) + sstr("FREQUENCY_START") + sstr("HEADER_END"),
     "FREQUENCY_START without FREQUENCY_END"),
    (header_bytes(basic_items(), end=False) + sstr(""), "a keyword has length 0"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_malformed_fil(tmp_path, content, pattern):
    expect_error(write(tmp_path, "bad.fil", content), pattern)


def test_uneven_frequency_table_is_rejected(tmp_path):
    items = [("nbits", "<i", 32), ("tsamp", "<d", 1.0)]
    table = sstr("FREQUENCY_START")
    for f in (1400.0, 1401.0, 1403.0):
        table += sstr("fchannel") + struct.pack("<d", f)
    table += sstr("FREQUENCY_END")
    content = header_bytes(items)[:-len(sstr("HEADER_END"))] + table + sstr("HEADER_END")
    expect_error(write(tmp_path, "table.fil", content + np.zeros(6, np.float32).tobytes()),
                 "unevenly spaced")


def test_even_frequency_table_sets_fch1_foff_nchans(tmp_path):
    items = [("nbits", "<i", 32), ("tsamp", "<d", 1.0)]
    table = sstr("FREQUENCY_START")
    for f in (1400.0, 1399.5, 1399.0):
        table += sstr("fchannel") + struct.pack("<d", f)
    content = (header_bytes(items)[:-len(sstr("HEADER_END"))] + table + sstr("FREQUENCY_END")
               + sstr("HEADER_END") + np.zeros(6, np.float32).tobytes())
    header, data = read_observation(write(tmp_path, "table.fil", content))
    assert (header.nchans, header.fch1, header.foff) == (3, 1400.0, -0.5)
    assert data.shape == (2, 3)


def test_missing_file_is_also_file_not_found(tmp_path):
    path = tmp_path / "nothing_here.fil"
    with pytest.raises(FileNotFoundError) as info:
        open_observation(path)
    assert isinstance(info.value, ObservationFormatError) and str(path) in str(info.value)


def test_directory_and_unknown_extension(tmp_path):
    (tmp_path / "dir.fil").mkdir()
    expect_error(tmp_path / "dir.fil", "not a regular file")
    expect_error(write(tmp_path, "x.fits", b"SIMPLE"), "unknown file extension '.fits'")


def test_h5_that_is_not_hdf5(tmp_path):
    content = header_bytes(basic_items()) + FLOATS_2x4  # a SIGPROC file named .h5
    expect_error(write(tmp_path, "fake.h5", content), "not a readable HDF5 file")


def h5_file(tmp_path, data=None, name="d", **attrs):
    path = tmp_path / f"{name}.h5"
    with h5py.File(path, "w") as f:
        if data is not None:
            ds = f.create_dataset("data", data=data)
            base = dict(fch1=1400.0, foff=-1.0, tsamp=1.0, nbits=32, nifs=1, nchans=4)
            base.update(attrs)
            for k, v in base.items():
                if v is not None:
                    ds.attrs[k] = v
    return path


def test_h5_errors(tmp_path):
    good = np.zeros((3, 1, 4), np.float32)
    expect_error(h5_file(tmp_path, None, "nodata"), "no 'data' dataset")
    expect_error(h5_file(tmp_path, np.zeros((3, 4), np.float32), "rank"), "rank 2")
    expect_error(h5_file(tmp_path, good, "nofoff", foff=None), "lacks the header attribute foff")
    expect_error(h5_file(tmp_path, good, "ifs", nifs=2), "nifs = 2 does not match")
    expect_error(h5_file(tmp_path, good, "chans", nchans=5), "nchans = 5 does not match")
    expect_error(h5_file(tmp_path, good, "tsamp", tsamp=-2.0), "tsamp = -2.0")
    expect_error(h5_file(tmp_path, good, "src", source_name=3.5, fch1="x"), "fch1 must be")
    expect_error(h5_file(tmp_path, good[:1], "one"), "holds 1 spectra")
    expect_error(h5_file(tmp_path, good, "nfpc", nfpc=3), "nfpc = 3 does not divide")


def test_h5_bytes_attributes_are_accepted(tmp_path):
    path = h5_file(tmp_path, np.ones((2, 1, 4), np.float32), "bytes",
                   source_name=np.bytes_(b"VOYAGER1"), rawdatafile=b"x.raw")
    header, _ = read_observation(path)
    assert header.source_name == "VOYAGER1" and header.rawdatafile == "x.raw"


def test_bad_window_and_writer_arguments(tmp_path):
    header = ObservationHeader(nchans=4, fch1=1400.0, foff=-1.0, tsamp=1.0, n_spectra=0)
    path = write_h5(tmp_path / "w.h5", header, np.ones((3, 4), np.float32))
    with open_observation(path) as obs:
        with pytest.raises(ValueError, match="window t0=2, t1=5"):
            obs.read(2, 5)
        with pytest.raises(ValueError, match="c0=3, c1=3"):
            obs.read(0, 1, 3, 3)
    with pytest.raises(ValueError, match="nbits 8, 16 or 32"):
        write_h5(tmp_path / "w4.h5", ObservationHeader(4, 1400.0, -1.0, 1.0, 0, nbits=4),
                 np.ones((3, 4)))
    with pytest.raises(ValueError, match="n_coarse_chan must be a positive integer"):
        open_observation(path, n_coarse_chan=0)
