"""Sanity checks shared by the .fil and .h5 readers and writers."""
from __future__ import annotations

import math

import numpy as np

from .errors import ObservationFormatError
from .header import ObservationHeader

SUPPORTED_NBITS = (1, 2, 4, 8, 16, 32)   # SIGPROC .fil
H5_NBITS = (8, 16, 32, 64)               # .h5: bit width of any integer / float dtype
MIN_SPECTRA = 2


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def validate_header(h: ObservationHeader, path, *, check_spectra: bool = True,
                    supported_nbits: tuple[int, ...] = SUPPORTED_NBITS) -> None:
    """Raise ObservationFormatError naming ``path`` and the field when a header value is
    impossible: nchans < 1, nbits not in ``supported_nbits``, nifs < 1, tsamp <= 0,
    foff == 0, non-finite fch1/foff/tsamp/tstart, fewer than 2 spectra (when
    ``check_spectra``)."""
    for name in ("nchans", "nbits", "nifs", "n_spectra"):
        if not _is_int(getattr(h, name)):
            raise ObservationFormatError(
                path, f"header field {name} must be an integer, got {getattr(h, name)!r}")
    for name in ("fch1", "foff", "tsamp", "tstart"):
        v = getattr(h, name)
        if not _is_real(v) or not math.isfinite(float(v)):
            raise ObservationFormatError(
                path, f"header field {name} must be a finite number, got {v!r}")
    if h.nchans < 1:
        raise ObservationFormatError(path, f"nchans = {h.nchans}, expected >= 1 channel")
    if h.nbits not in supported_nbits:
        raise ObservationFormatError(
            path, f"unsupported nbits = {h.nbits}, expected one of {supported_nbits}")
    if h.nifs < 1:
        raise ObservationFormatError(path, f"nifs = {h.nifs}, expected >= 1")
    if h.tsamp <= 0:
        raise ObservationFormatError(path, f"tsamp = {h.tsamp} s, expected > 0")
    if h.foff == 0:
        raise ObservationFormatError(path, "foff = 0 MHz, expected a non-zero channel width")
    if check_spectra and h.n_spectra < MIN_SPECTRA:
        raise ObservationFormatError(
            path, f"holds {h.n_spectra} spectra, expected at least {MIN_SPECTRA} "
                  "(a drift search needs two or more)")


def sample_dtype(nbits: int, signed: bool = False) -> np.dtype:
    """numpy dtype of one stored sample for nbits >= 8 (SIGPROC: unsigned ints, float32)."""
    if nbits == 8:
        return np.dtype(np.int8 if signed else np.uint8)
    if nbits == 16:
        return np.dtype("<u2")
    if nbits == 32:
        return np.dtype("<f4")
    raise ValueError(f"no whole-byte dtype for nbits = {nbits}")


def nbits_for_dtype(dtype: np.dtype) -> int:
    """nbits implied by an HDF5 dataset dtype."""
    return np.dtype(dtype).itemsize * 8


def as_spectra(data, nifs: int | None, what: str = "data") -> np.ndarray:
    """View ``data`` as (n_spectra, nifs, nchans); accepts (T, F) or (T, nifs, F)."""
    arr = np.asarray(data)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3:
        raise ValueError(f"{what} must have shape (n_spectra, nchans) or "
                         f"(n_spectra, nifs, nchans), got shape {arr.shape}")
    if nifs is not None and arr.shape[1] != nifs:
        raise ValueError(f"{what} has {arr.shape[1]} IFs but header.nifs = {nifs}")
    return arr


def check_writable_values(arr: np.ndarray, nbits: int, path) -> None:
    """Integer nbits need integral samples in 0 .. 2**nbits - 1 (int8 for signed 8 bit is
    not written here); float32 accepts anything."""
    if nbits == 32 or arr.size == 0:
        return
    top = (1 << nbits) - 1
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if lo < 0 or hi > top:
        raise ValueError(f"{path}: nbits = {nbits} stores integers 0..{top}, "
                         f"data spans {lo}..{hi}")
    if arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0):
        raise ValueError(f"{path}: nbits = {nbits} stores integers, data has fractions")
