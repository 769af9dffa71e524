"""SIGPROC filterbank (.fil) reader and writer.

Data follow the header as spectra in time order; each spectrum holds ``nifs`` blocks of
``nchans`` samples (IF-major). nbits 8 / 16 are unsigned integers (8 bit is signed when the
header has ``signed = 1``), 32 is float32, and 1 / 2 / 4 bits are packed low bits first into
one continuous bit stream. Reads fetch only the window they need (``os.preadv`` per
spectrum) or, for sub-byte data, unpack bounded chunks of rows, so memory stays bounded by
the window read, never the file.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..atomic import move_into_place, temp_file_beside
from . import bits
from .checks import (as_spectra, check_writable_values, sample_dtype, validate_header)
from .errors import ObservationFormatError
from .header import ObservationHeader
from .sigproc import format_header, header_from_keywords, read_keywords

CHUNK_SAMPLES = 1 << 24   # samples unpacked at once for sub-byte data (16 MiB of uint8)


class FilReader:
    """Open one .fil file: parsed ``header`` plus windowed reads of one IF."""

    def __init__(self, path: str | os.PathLike, if_index: int = 0) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        self._file = open(self.path, "rb")
        try:
            values, self.header_bytes = read_keywords(self._file, self.path)
            size = os.fstat(self._file.fileno()).st_size
            self.header = self._build_header(values, size)
            self.if_index = if_index  # checked against nifs by Observation
        except BaseException:
            self._file.close()
            raise

    def _build_header(self, values: dict, size: int) -> ObservationHeader:
        h = header_from_keywords(values, n_spectra=0, path=self.path)
        validate_header(h, self.path, check_spectra=False)
        self.signed = bool(h.extra.get("signed", 0)) and h.nbits == 8
        self.row_samples = h.nifs * h.nchans
        data_bits = (size - self.header_bytes) * 8
        row_bits = self.row_samples * h.nbits
        n_spectra = data_bits // row_bits
        used_bytes = -(-n_spectra * row_bits // 8)
        if used_bytes != size - self.header_bytes:
            raise ObservationFormatError(
                self.path, f"data section of {size - self.header_bytes} bytes is not a whole "
                           f"number of spectra of {row_bits / 8:g} bytes (nchans={h.nchans}, "
                           f"nifs={h.nifs}, nbits={h.nbits}): truncated or corrupted file")
        h.n_spectra = int(n_spectra)
        validate_header(h, self.path)
        return h

    @property
    def is_float(self) -> bool:
        """True for float32 samples (nbits = 32), which may hold NaN / Inf."""
        return self.header.nbits == 32

    def read(self, t0: int, t1: int, c0: int, c1: int) -> np.ndarray:
        """float32 (t1 - t0, c1 - c0) window of IF ``if_index`` (bounds already checked)."""
        if self.header.nbits >= 8:
            return self._read_mapped(t0, t1, c0, c1)
        return self._read_packed(t0, t1, c0, c1)

    def _read_mapped(self, t0, t1, c0, c1) -> np.ndarray:
        """Byte-aligned samples (nbits 8, 16, 32): each spectrum's window read straight
        into the result with ``os.preadv`` (no file mapping, so no page fault per 4 KiB),
        through a raw buffer of the stored dtype when that is not float32."""
        h = self.header
        dtype = sample_dtype(h.nbits, self.signed)
        row_bytes = self.row_samples * dtype.itemsize
        out = np.empty((t1 - t0, c1 - c0), dtype=np.float32)
        raw = out if dtype == np.float32 else np.empty(out.shape, dtype=dtype)
        first = self.header_bytes + (self.if_index * h.nchans + c0) * dtype.itemsize
        fd = self._file.fileno()
        for r in range(t1 - t0):
            view = memoryview(raw[r]).cast("B")
            offset = first + (t0 + r) * row_bytes
            while view.nbytes:
                got = os.preadv(fd, [view], offset)
                if got <= 0:
                    raise ObservationFormatError(self.path, "file shrank while reading")
                view, offset = view[got:], offset + got
        if raw is not out:
            out[...] = raw
        return out

    def _unpack_samples(self, s0: int, s1: int) -> np.ndarray:
        """uint8 samples s0 .. s1-1 of the data section (sample = one nbits value)."""
        nbits = self.header.nbits
        b0, b1 = s0 * nbits // 8, -(-s1 * nbits // 8)
        raw = np.frombuffer(os.pread(self._file.fileno(), b1 - b0, self.header_bytes + b0),
                            dtype=np.uint8)
        if len(raw) != b1 - b0:
            raise ObservationFormatError(self.path, "file shrank while reading")
        return bits.unpack(raw, nbits, (s0 * nbits - b0 * 8) // nbits, s1 - s0)

    def _read_packed(self, t0, t1, c0, c1) -> np.ndarray:
        h = self.header
        out = np.empty((t1 - t0, c1 - c0), dtype=np.float32)
        first = self.if_index * h.nchans  # sample offset of this IF inside a spectrum
        if self.row_samples > CHUNK_SAMPLES:  # huge spectra: unpack only the window
            for t in range(t0, t1):
                s0 = t * self.row_samples + first
                out[t - t0] = self._unpack_samples(s0 + c0, s0 + c1)
            return out
        rows_per_chunk = max(1, CHUNK_SAMPLES // self.row_samples)
        for r0 in range(t0, t1, rows_per_chunk):
            r1 = min(t1, r0 + rows_per_chunk)
            samples = self._unpack_samples(r0 * self.row_samples, r1 * self.row_samples)
            block = samples.reshape(r1 - r0, h.nifs, h.nchans)
            out[r0 - t0:r1 - t0] = block[:, self.if_index, c0:c1]
        return out

    @property
    def mask(self):
        return None

    def close(self) -> None:
        self._file.close()


class FilWriter:
    """Stream spectra into a new .fil file; the file appears (atomically) on ``close()``.

    >>> with FilWriter("out.fil", header) as w:   # doctest: +SKIP
    ...     w.write(block)                         # (t, nchans) or (t, nifs, nchans)
    A failure before ``close()`` leaves no partial file behind.
    """

    def __init__(self, path: str | os.PathLike, header: ObservationHeader) -> None:
        self.path = Path(path)
        self.header = header
        validate_header(header, self.path, check_spectra=False)
        if header.nbits == 8 and header.extra.get("signed", 0):
            raise ValueError("writing signed 8-bit SIGPROC data is not supported")
        fch = header.extra.get("fchannel")
        if fch is not None and len(fch) != header.nchans:
            raise ValueError(f"header.extra['fchannel'] lists {len(fch)} channels, "
                             f"nchans = {header.nchans}")
        self.n_spectra = 0
        self._leftover = np.zeros(0, dtype=np.uint8)
        fd, self._tmp = temp_file_beside(self.path)
        self._file = os.fdopen(fd, "wb")
        try:
            self._file.write(format_header(header, n_spectra=header.n_spectra))
        except BaseException:
            self.abort()
            raise

    def write(self, data) -> None:
        """Append spectra: array (t, nchans) or (t, nifs, nchans)."""
        h = self.header
        arr = as_spectra(data, h.nifs)
        if arr.shape[2] != h.nchans:
            raise ValueError(f"data has {arr.shape[2]} channels, header.nchans = {h.nchans}")
        check_writable_values(arr, h.nbits, self.path)
        if h.nbits >= 8:
            block = np.ascontiguousarray(arr, dtype=sample_dtype(h.nbits))
            self._file.write(memoryview(block).cast("B"))  # no extra copy of big blocks
        else:
            flat = np.concatenate([self._leftover, arr.astype(np.uint8).reshape(-1)])
            packed, self._leftover = bits.pack(flat, h.nbits)
            self._file.write(packed)
        self.n_spectra += arr.shape[0]

    def close(self) -> Path:
        """Finish the file and move it into place. Returns the path."""
        if self._file.closed:
            return self.path
        try:
            if self.n_spectra < 2:
                raise ValueError(f"{self.path}: wrote {self.n_spectra} spectra, "
                                 "a filterbank needs at least 2")
            if self.header.nbits < 8:
                self._file.write(bits.pack_final(self._leftover, self.header.nbits))
            if "nsamples" in self.header.extra and self.n_spectra != self.header.n_spectra:
                self._file.seek(0)  # header length is unchanged: nsamples is a fixed int32
                self._file.write(format_header(self.header, n_spectra=self.n_spectra))
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            move_into_place(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "FilWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_fil(path: str | os.PathLike, header: ObservationHeader, data) -> Path:
    """Write ``data`` ((T, nchans) or (T, nifs, nchans)) as a SIGPROC file with
    ``header.nbits`` bits per sample (1, 2, 4, 8, 16 unsigned; 32 float). Atomic.
    ``header.n_spectra`` is ignored (the data decide); ``header.nfpc`` is not stored
    (SIGPROC has no such keyword: pass ``n_coarse_chan`` when reading)."""
    arr = as_spectra(data, header.nifs)
    with FilWriter(path, header) as w:
        w.write(arr)
    return Path(path)
