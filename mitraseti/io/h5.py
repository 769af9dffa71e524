"""Breakthrough Listen HDF5 filterbank (.h5) reader and writer.

Layout (as written by BL tools): dataset ``data`` of shape (n_spectra, nifs, nchans),
SIGPROC header values as attributes of ``data``, file attributes CLASS='FILTERBANK' and
VERSION, optional ``nfpc`` attribute (fine channels per coarse channel) and optional
``mask`` dataset of the same shape (uint8, non-zero = flagged).

Sample type: the dataset's dtype decides, not the ``nbits`` attribute (blimpy's
``Waterfall.write_to_hdf5`` and setigen's ``Frame.save_h5`` store float64 data under
``nbits = 32``). Any integer or float dtype is read; HDF5 converts each read window
straight into float32 (no float64 copy of the window). ``header.nbits`` is the dtype's
bit width; a disagreeing ``nbits`` attribute becomes a reader warning (``warnings``). BL stores ``src_raj`` in
decimal hours and ``src_dej`` in decimal degrees; ObservationHeader keeps SIGPROC packed
sexagesimal, so both are converted on read and write (round trip exact to ~1e-9 s).
Compression: bitshuffle + LZ4 through ``hdf5plugin`` (imported here, so plain ``h5py``
reads our files once ``hdf5plugin`` is imported).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np

from ..atomic import atomic_path
from .checks import (H5_NBITS, as_spectra, check_writable_values, sample_dtype,
                     validate_header)
from .errors import ObservationFormatError
from .header import ObservationHeader

_FIELDS = [f for f in ObservationHeader.field_names() if f not in ("n_spectra", "extra")]
_STR_FIELDS = {"source_name", "rawdatafile"}
_FLOAT_FIELDS = {"fch1", "foff", "tsamp", "tstart", "src_raj", "src_dej", "az_start",
                 "za_start"}
_SKIP_ATTRS = {"DIMENSION_LABELS", "CLASS", "VERSION"}
_DIMENSION_LABELS = ["time", "feed_id", "frequency"]
# HDF5's per-dataset chunk cache (bytes). The search reads each chunk once (whole
# coarse channels), so a large cache only holds decompressed chunks nobody reads again:
# 8 MiB (h5py's default) left ~11 MiB resident after a 64 MiB read; 1 MiB leaves ~4 MiB
# and still serves repeated small windows (widgets) within a chunk.
CHUNK_CACHE_BYTES = 1 << 20
MAX_CHUNK_BYTES = 1 << 20   # ~1 MiB chunks: good bitshuffle ratio, bounded read cost
READ_PIECE_BYTES = 16 << 20  # non-float32 data are read and cast in pieces of this size


# what h5py raises on corrupted object headers, B-trees, heaps or attribute messages
H5PY_ERRORS = (OSError, RuntimeError, KeyError, TypeError, ValueError)


def _plain(value: Any) -> Any:
    """numpy / bytes attribute value -> plain Python (str, int, float, list)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.ndim == 0 or value.size == 1:
            return _plain(value.reshape(-1)[0])
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def decimal_to_packed(value: float) -> float:
    """Decimal hours (or degrees) -> SIGPROC packed hhmmss.s (or ddmmss.s)."""
    sign = -1.0 if value < 0 else 1.0
    total = abs(float(value)) * 3600.0
    whole = math.floor(total / 3600.0)
    minutes = math.floor((total - whole * 3600.0) / 60.0)
    seconds = total - whole * 3600.0 - minutes * 60.0
    return sign * (whole * 10000.0 + minutes * 100.0 + seconds)


def packed_to_decimal(value: float) -> float:
    """SIGPROC packed hhmmss.s (or ddmmss.s) -> decimal hours (or degrees)."""
    sign = -1.0 if value < 0 else 1.0
    v = abs(float(value))
    whole = math.floor(v / 10000.0)
    minutes = math.floor((v - whole * 10000.0) / 100.0)
    seconds = v - whole * 10000.0 - minutes * 100.0
    return sign * (whole + minutes / 60.0 + seconds / 3600.0)


def _coerce(path, name: str, value: Any) -> Any:
    if isinstance(value, list):
        raise ObservationFormatError(path, f"attribute {name} must be a scalar, got {value!r}")
    if name in _STR_FIELDS:
        return str(value)
    if isinstance(value, str) or isinstance(value, bool):
        raise ObservationFormatError(path, f"attribute {name} must be a number, got {value!r}")
    if name in _FLOAT_FIELDS:
        return float(value)
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise ObservationFormatError(path, f"attribute {name} must be an integer, got {value!r}")
    return int(value)


class H5Reader:
    """Open one BL .h5 file: parsed ``header`` plus windowed reads of one IF."""

    def __init__(self, path: str | os.PathLike, if_index: int = 0) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        try:
            self._file = h5py.File(self.path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
        except OSError as exc:
            raise ObservationFormatError(self.path, f"not a readable HDF5 file ({exc})") from exc
        try:
            try:
                self._open(if_index)
            except ObservationFormatError:
                raise
            except H5PY_ERRORS as exc:
                raise ObservationFormatError(
                    self.path, f"corrupted HDF5 structure ({exc})") from exc
        except BaseException:
            self._file.close()
            raise

    def _open(self, if_index: int) -> None:
        data = self._file.get("data")
        if not isinstance(data, h5py.Dataset):
            raise ObservationFormatError(self.path, "HDF5 file has no 'data' dataset "
                                                    "(expected a Breakthrough Listen filterbank)")
        if data.ndim != 3:
            raise ObservationFormatError(
                self.path, f"'data' has rank {data.ndim} (shape {data.shape}), expected 3: "
                           "(n_spectra, nifs, nchans)")
        if data.dtype.kind not in "fui" or data.dtype.itemsize > 8:
            raise ObservationFormatError(self.path, f"'data' has dtype {data.dtype}, "
                                                    "expected integers or floats")
        self._data = data
        self.is_float = data.dtype.kind == "f"
        self.header = self._build_header(data)
        self.if_index = if_index  # checked against nifs by Observation
        mask = self._file.get("mask")
        if mask is not None and (not isinstance(mask, h5py.Dataset) or mask.shape != data.shape):
            raise ObservationFormatError(
                self.path, f"'mask' must be a dataset of the data's shape {data.shape}")
        self._mask = mask

    def _build_header(self, data: h5py.Dataset) -> ObservationHeader:
        try:
            attrs = {k: _plain(data.attrs[k]) for k in data.attrs.keys()}
        except H5PY_ERRORS as exc:
            raise ObservationFormatError(self.path, f"unreadable 'data' attributes ({exc})") \
                from exc
        n_spectra, nifs, nchans = (int(n) for n in data.shape)
        for key in ("fch1", "foff", "tsamp"):
            if key not in attrs:
                raise ObservationFormatError(self.path, f"'data' lacks the header attribute {key}")
        stored_bits = data.dtype.itemsize * 8
        for key, actual in (("nchans", nchans), ("nifs", nifs)):
            if key in attrs and _coerce(self.path, key, attrs[key]) != actual:
                raise ObservationFormatError(
                    self.path, f"attribute {key} = {attrs[key]} does not match the data "
                               f"({key} = {actual} from shape {data.shape}, dtype {data.dtype})")
        if "nbits" in attrs:
            self._check_nbits(attrs.pop("nbits"), data.dtype)
        kwargs = {k: _coerce(self.path, k, attrs.pop(k)) for k in _FIELDS if k in attrs}
        kwargs.update(nchans=nchans, nifs=nifs, nbits=stored_bits)
        for key in ("src_raj", "src_dej"):
            if key in kwargs:
                kwargs[key] = decimal_to_packed(kwargs[key])
        extra = {k: v for k, v in attrs.items() if k not in _SKIP_ATTRS}
        h = ObservationHeader(n_spectra=n_spectra, extra=extra, **kwargs)
        validate_header(h, self.path, supported_nbits=H5_NBITS)
        if h.nfpc and h.nfpc < 0:
            raise ObservationFormatError(self.path, f"nfpc = {h.nfpc}, expected > 0")
        return h

    def _check_nbits(self, value: Any, dtype: np.dtype) -> None:
        """Record a warning when the ``nbits`` attribute disagrees with the dtype."""
        bits = dtype.itemsize * 8
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == bits:
            return
        self.warnings.append(
            f"{self.path}: header attribute nbits = {value!r} disagrees with the dataset "
            f"'data', which stores {dtype} ({bits}-bit samples); read as {dtype} and "
            "converted to float32")

    def read(self, t0: int, t1: int, c0: int, c1: int) -> np.ndarray:
        """float32 (t1 - t0, c1 - c0) window of IF ``if_index`` (bounds already checked).

        float32 data are read straight into the result; other dtypes piece by piece
        (<= READ_PIECE_BYTES in the stored dtype, whole chunks where possible), each piece
        cast into the float32 result, so memory stays the window plus one piece."""
        out = np.empty((t1 - t0, c1 - c0), dtype=np.float32)
        try:
            # a 1-wide IF slice, not an integer index: h5py reads an integer-indexed
            # selection of chunked (e.g. bitshuffle) data ~15x slower
            ifs = slice(self.if_index, self.if_index + 1)
            if self._data.dtype.kind == "f" and self._data.dtype.itemsize == 4:
                self._data.read_direct(out[:, None, :], np.s_[t0:t1, ifs, c0:c1])
                return out
            for r0, r1, k0, k1 in self._pieces(t0, t1, c0, c1):
                out[r0 - t0:r1 - t0, k0 - c0:k1 - c0] = self._data[r0:r1, ifs, k0:k1][:, 0, :]
        except (OSError, ValueError, RuntimeError, TypeError) as exc:
            raise ObservationFormatError(
                self.path, f"could not read data[{t0}:{t1}, {self.if_index}, {c0}:{c1}] "
                           f"({exc})") from exc
        return out

    def _pieces(self, t0: int, t1: int, c0: int, c1: int):
        """(r0, r1, k0, k1) windows covering the request, each <= READ_PIECE_BYTES."""
        itemsize = self._data.dtype.itemsize
        width = c1 - c0
        rows = max(1, READ_PIECE_BYTES // (width * itemsize))
        span = width
        if rows == 1 and width * itemsize > READ_PIECE_BYTES:
            chunk_w = self._data.chunks[2] if self._data.chunks else 1
            span = max(chunk_w, READ_PIECE_BYTES // itemsize // chunk_w * chunk_w)
        for r0 in range(t0, t1, rows):
            for k0 in range(c0, c1, span):
                yield r0, min(t1, r0 + rows), k0, min(c1, k0 + span)

    @property
    def mask(self) -> h5py.Dataset | None:
        """The ``mask`` dataset (lazy h5py Dataset, shape like data) or None."""
        return self._mask

    def close(self) -> None:
        self._file.close()


def _chunks(shape: tuple[int, int, int], itemsize: int, nfpc: int) -> tuple[int, int, int]:
    """One coarse channel (or <= 1 MiB of it) wide, as many spectra as fit in ~1 MiB."""
    n_t, n_if, n_f = shape
    width = nfpc if 0 < nfpc <= n_f and n_f % nfpc == 0 else n_f
    width = max(1, min(width, MAX_CHUNK_BYTES // itemsize))
    rows = max(1, min(n_t, MAX_CHUNK_BYTES // (itemsize * width)))
    return rows, 1, width


def _attrs_for(header: ObservationHeader, nifs: int, nchans: int) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key, value in header.extra.items():
        if key in _FIELDS or key in _SKIP_ATTRS:
            continue
        attrs[key] = np.asarray(value) if isinstance(value, (list, tuple)) else value
    for key in _FIELDS:
        value = getattr(header, key)
        if key == "nfpc" and not value:
            continue
        attrs[key] = value
    attrs["src_raj"] = packed_to_decimal(header.src_raj)
    attrs["src_dej"] = packed_to_decimal(header.src_dej)
    attrs.update(nchans=nchans, nifs=nifs)
    return attrs


def write_h5(path: str | os.PathLike, header: ObservationHeader, data, mask=None,
             compression: Any = "bitshuffle") -> Path:
    """Write ``data`` ((T, nchans) or (T, nifs, nchans)) as a BL HDF5 filterbank with
    ``header.nbits`` (8 or 16 unsigned, 32 float). ``mask``: optional array of the same
    shape (stored as uint8). ``compression``: "bitshuffle" (bitshuffle + LZ4, default) or
    None. Atomic: written to a temporary file, then moved into place."""
    path = Path(path)
    validate_header(header, path, check_spectra=False)
    if header.nbits not in (8, 16, 32):
        raise ValueError(f"{path}: write_h5 supports nbits 8, 16 or 32, header.nbits = "
                         f"{header.nbits}")
    arr = as_spectra(data, header.nifs)
    if arr.shape[2] != header.nchans:
        raise ValueError(f"data has {arr.shape[2]} channels, header.nchans = {header.nchans}")
    if arr.shape[0] < 2:
        raise ValueError(f"{path}: data holds {arr.shape[0]} spectra, expected at least 2")
    check_writable_values(arr, header.nbits, path)
    arr = np.ascontiguousarray(arr, dtype=sample_dtype(header.nbits))
    mask_arr = None
    if mask is not None:
        mask_arr = np.ascontiguousarray(as_spectra(mask, header.nifs, "mask"), dtype=np.uint8)
        if mask_arr.shape != arr.shape:
            raise ValueError(f"mask has shape {mask_arr.shape}, data has shape {arr.shape}")
    if compression == "bitshuffle":
        filt = dict(hdf5plugin.Bitshuffle(cname="lz4"))
    elif compression is None:
        filt = {}
    else:
        raise ValueError(f"compression must be 'bitshuffle' or None, got {compression!r}")
    chunks = _chunks(arr.shape, arr.itemsize, header.nfpc)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["CLASS"] = "FILTERBANK"
            f.attrs["VERSION"] = "1.0"
            ds = f.create_dataset("data", data=arr, chunks=chunks, **filt)
            ds.attrs["DIMENSION_LABELS"] = np.array(_DIMENSION_LABELS, dtype=h5py.string_dtype())
            for key, value in _attrs_for(header, arr.shape[1], arr.shape[2]).items():
                ds.attrs[key] = value
            if mask_arr is not None:
                m = f.create_dataset("mask", data=mask_arr, chunks=chunks, **filt)
                m.attrs["DIMENSION_LABELS"] = np.array(_DIMENSION_LABELS,
                                                       dtype=h5py.string_dtype())
    return path
