"""Property-based robustness: random and corrupted input never raises anything but
ObservationFormatError from the .fil and .h5 readers."""
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
import os

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mitraseti.io import ObservationFormatError, ObservationHeader, open_observation, write_h5
from mitraseti.io.sigproc import KEYWORD_TYPES

from sigproc_bytes import basic_items, header_bytes, sstr

# Derandomized by default so every CI run checks the same examples; set
# MITRASETI_FUZZ_EXAMPLES=5000 for a long random exploration.
_LONG = int(os.environ.get("MITRASETI_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_LONG or 150, derandomize=not _LONG, deadline=None,
                database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """One folder for the module: each example overwrites the same file."""
    return tmp_path_factory.mktemp("io-fuzz")


def read_everything(path: Path) -> None:
    """Open, iterate coarse channels, read a window: only ObservationFormatError may
    escape (a successful read is fine too)."""
    try:
        with open_observation(path) as obs:
            for _, block in obs.iter_coarse_channels():
                assert block.dtype == np.float32 and np.isfinite(block).all()
            obs.read(0, 2, 0, 1)
    except ObservationFormatError as exc:
        assert str(path) in str(exc)


def as_file(workdir: Path, content: bytes, suffix: str) -> Path:
    path = workdir / f"fuzz{suffix}"
    path.write_bytes(content)
    return path


VALID_FIL = header_bytes(basic_items(nchans=6, nbits=2)) + bytes(range(9))  # 12 spectra


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_fil(workdir, content):
    read_everything(as_file(workdir, content, ".fil"))


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_after_header_start(workdir, content):
    read_everything(as_file(workdir, sstr("HEADER_START") + content, ".fil"))


@FUZZ
@given(st.integers(0, len(VALID_FIL)),
       st.lists(st.tuples(st.integers(0, len(VALID_FIL) - 1), st.integers(0, 255)),
                max_size=6))
def test_truncated_and_flipped_fil(workdir, cut, flips):
    content = bytearray(VALID_FIL)
    for pos, value in flips:
        content[pos] = value
    read_everything(as_file(workdir, bytes(content[:cut]), ".fil"))


def keyword_item():
    known = st.sampled_from(sorted(KEYWORD_TYPES))
    key = st.one_of(known, known, st.text(min_size=0, max_size=12))
    numbers = st.one_of(st.integers(-2**31, 2**31 - 1), st.floats(allow_nan=True))
    return st.tuples(key, st.one_of(numbers, st.text(max_size=20)))


def encode_item(key, value) -> bytes:
    kind = KEYWORD_TYPES.get(key, "<d")
    if kind == "str" or isinstance(value, str):
        return sstr(key) + sstr(str(value))
    try:
        return sstr(key) + struct.pack(kind, value)
    except struct.error:  # value does not fit this keyword's type: store raw double
        return sstr(key) + struct.pack("<d", float(value))


@FUZZ
@given(st.lists(keyword_item(), max_size=12), st.binary(max_size=300),
       st.booleans())
def test_random_header_keywords_and_values(workdir, items, payload, with_basics):
    body = header_bytes(basic_items(nchans=3), end=False) if with_basics \
        else sstr("HEADER_START")
    body += b"".join(encode_item(k, v) for k, v in items) + sstr("HEADER_END")
    read_everything(as_file(workdir, body + payload, ".fil"))


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_h5(workdir, content):
    read_everything(as_file(workdir, b"\x89HDF\r\n\x1a\n" + content if content[:1] == b"\x00"
                            else content, ".h5"))


@pytest.fixture(scope="module")
def valid_h5(workdir) -> bytes:
    header = ObservationHeader(nchans=8, fch1=1400.0, foff=-1.0, tsamp=1.0, n_spectra=0,
                               nfpc=4)
    path = write_h5(workdir / "valid.h5", header, np.arange(24, dtype=np.float32).reshape(3, 8))
    return path.read_bytes()


H5_SIZE = 16384  # >= the size of valid_h5 (~11 KiB); positions wrap modulo its size


@FUZZ
@given(st.integers(0, H5_SIZE),
       st.lists(st.tuples(st.integers(0, H5_SIZE - 1), st.integers(0, 255)), max_size=8))
@example(cut=11428, flips=[(1888, 0)])  # once raised h5py's RuntimeError from attrs
def test_truncated_and_flipped_h5(workdir, valid_h5, cut, flips):
    content = bytearray(valid_h5)
    for pos, value in flips:
        content[pos % len(content)] = value
    read_everything(as_file(workdir, bytes(content[:cut]), ".h5"))


attr_values = st.one_of(
    st.integers(-2**40, 2**40), st.floats(allow_nan=True), st.text(max_size=10),
    st.binary(max_size=10), st.booleans(),
    st.lists(st.floats(allow_nan=False, width=32), min_size=0, max_size=3).map(np.array))


@FUZZ
@given(st.dictionaries(st.sampled_from(["fch1", "foff", "tsamp", "tstart", "nchans", "nbits",
                                        "nifs", "nfpc", "source_name", "telescope_id",
                                        "src_raj", "ibeam", "other"]), attr_values,
                       max_size=8),
       st.sampled_from([(3, 1, 4), (2, 2, 6), (1, 1, 4), (3, 4), (0, 1, 4), (2, 1, 0)]),
       st.sampled_from(["<f4", "<f8", "u1", "<u2", "<i4"]),
       st.booleans())
def test_h5_random_attributes_shapes_and_dtypes(workdir, attrs, shape, dtype, base):
    path = workdir / "attrs.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("data", data=np.ones(shape, dtype=dtype))
        if base:
            for key, value in dict(fch1=1400.0, foff=1.0, tsamp=0.5).items():
                ds.attrs[key] = value
        for key, value in attrs.items():
            try:
                ds.attrs[key] = value
            except (TypeError, ValueError):  # h5py cannot store this value: skip it
                pass
    read_everything(path)
