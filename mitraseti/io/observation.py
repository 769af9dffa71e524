"""One interface over .fil and .h5 files: windowed reads and coarse-channel iteration.

Memory: every read returns a fresh float32 array of the requested window and keeps
nothing else resident, so iterating the coarse channels of a file of any size needs about
one coarse channel (n_spectra x nfpc x 4 bytes) of memory.

IF selection: searches use Stokes I, which SIGPROC and BL store as IF 0; ``if_index``
(default 0) picks another IF, and ``Observation.if_index`` says which one is read.

Non-finite samples (NaN / +-Inf, float data only): each is replaced, in the returned
array, by the median of the finite samples of the same spectrum within the window read
(or of the whole window when that spectrum has none there). The file is never changed.
``Observation.n_nonfinite`` counts the replaced samples so far and a warning is logged per
read. A window with no finite sample at all raises ObservationFormatError.
"""
from __future__ import annotations

import logging
import os
import struct
from pathlib import Path
from typing import Iterator

import numpy as np

from . import coarse
from .errors import ObservationFormatError, ObservationNotFoundError
from .header import ObservationHeader

log = logging.getLogger("mitraseti.io")

FIL_SUFFIXES = (".fil",)
H5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def _reader_class(path: Path):
    suffix = path.suffix.lower()
    if suffix in FIL_SUFFIXES:
        from .fil import FilReader
        return FilReader
    if suffix in H5_SUFFIXES:
        from .h5 import H5Reader
        return H5Reader
    raise ObservationFormatError(
        path, f"unknown file extension {path.suffix!r}: expected .fil (SIGPROC filterbank) "
              "or .h5 (Breakthrough Listen HDF5)")


class Observation:
    """An open observation file. Use as a context manager, or call ``close()``.

    Attributes: ``path``, ``header`` (ObservationHeader; ``header.nfpc`` set when known from
    the file, ``n_coarse_chan`` or a recognised product, 0 when the whole band is one coarse
    channel by default), ``coarse`` (``coarse.Channelisation``: n, nfpc and how they were
    chosen), ``n_coarse_channels``, ``nfpc``, ``if_index``, ``n_nonfinite``, ``format``
    ('fil' or 'h5'), ``mask`` (h5py Dataset or None, read lazily), ``warnings`` (list of
    str: where the file's header disagrees with its data and how it was read; each names
    the file).
    """

    def __init__(self, path, n_coarse_chan: int | None = None, if_index: int = 0) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise ObservationNotFoundError(self.path, "no such file")
        if not self.path.is_file():
            raise ObservationFormatError(self.path, "not a regular file")
        cls = _reader_class(self.path)
        self.format = "fil" if cls.__name__ == "FilReader" else "h5"
        try:
            self._reader = cls(self.path, if_index)
        except ObservationFormatError:
            raise
        except (OSError, ValueError, struct.error, UnicodeError, OverflowError, KeyError,
                TypeError) as exc:
            raise ObservationFormatError(self.path, f"cannot read file ({exc})") from exc
        try:
            self.header = self._reader.header
            if not 0 <= if_index < self.header.nifs:
                raise ValueError(f"if_index = {if_index}, but {self.path} holds "
                                 f"{self.header.nifs} IF(s) (0..{self.header.nifs - 1})")
            self.coarse = coarse.resolve(self.header, n_coarse_chan, self.path)
        except BaseException:
            self._reader.close()
            raise
        self.nfpc = self.coarse.nfpc
        if self.coarse.source != coarse.SOURCE_DEFAULT:
            self.header.nfpc = self.nfpc  # known (file, caller or product); else stays 0
        self.n_coarse_channels = self.coarse.n
        self.if_index = if_index
        self.n_nonfinite = 0
        self.warnings: list[str] = list(self._reader.warnings)
        for w in self.warnings:
            log.warning("%s", w)
        self._float = bool(self._reader.is_float)

    # ---- reads -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """(n_spectra, nchans) of the IF that is read."""
        return self.header.n_spectra, self.header.nchans

    def read(self, t0: int = 0, t1: int | None = None, c0: int = 0,
             c1: int | None = None) -> np.ndarray:
        """float32 array (t1 - t0, c1 - c0): spectra t0..t1-1, channels c0..c1-1 (file
        channel order), IF ``if_index``; non-finite samples replaced (see module doc)."""
        n_t, n_c = self.shape
        t1 = n_t if t1 is None else t1
        c1 = n_c if c1 is None else c1
        for name, lo, hi, limit in (("t", t0, t1, n_t), ("c", c0, c1, n_c)):
            if not (0 <= lo < hi <= limit):
                raise ValueError(f"{self.path}: window {name}0={lo}, {name}1={hi} is outside "
                                 f"0..{limit} or empty")
        try:
            block = self._reader.read(int(t0), int(t1), int(c0), int(c1))
        except (OSError, ValueError) as exc:
            if isinstance(exc, ObservationFormatError):
                raise
            raise ObservationFormatError(self.path, f"cannot read data ({exc})") from exc
        if self._float:
            self._replace_nonfinite(block, t0, c0)
        return block

    def _replace_nonfinite(self, block: np.ndarray, t0: int, c0: int) -> None:
        # fast path, no temporary mask: NaN and Inf make the float32 sum non-finite (an
        # overflow to Inf only sends a finite block down the exact path below)
        if np.isfinite(block.sum()):
            return
        bad = ~np.isfinite(block)
        n_bad = int(bad.sum())
        if not n_bad:
            return
        if n_bad == block.size:
            raise ObservationFormatError(
                self.path, f"every sample of spectra {t0}..{t0 + block.shape[0] - 1}, channels "
                           f"{c0}..{c0 + block.shape[1] - 1} is NaN or Inf")
        masked = np.where(bad, np.nan, block)
        window_median = np.nanmedian(masked)
        for row in np.flatnonzero(bad.any(axis=1)):
            good = ~bad[row]
            fill = np.median(block[row, good]) if good.any() else window_median
            block[row, bad[row]] = fill
        self.n_nonfinite += n_bad
        log.warning("%s: replaced %d NaN/Inf samples in spectra %d..%d, channels %d..%d by "
                    "their spectrum's median", self.path, n_bad, t0, t0 + block.shape[0] - 1,
                    c0, c0 + block.shape[1] - 1)

    def coarse_channel(self, i: int) -> np.ndarray:
        """float32 (n_spectra, nfpc): coarse channel ``i`` (0-based, file channel order)."""
        if not 0 <= i < self.n_coarse_channels:
            raise IndexError(f"{self.path}: coarse channel {i} requested, the file has "
                             f"{self.n_coarse_channels} (0..{self.n_coarse_channels - 1})")
        return self.read(0, None, i * self.nfpc, (i + 1) * self.nfpc)

    def iter_coarse_channels(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (i, float32 (n_spectra, nfpc)) for every coarse channel, one at a time."""
        for i in range(self.n_coarse_channels):
            yield i, self.coarse_channel(i)

    def frequencies_hz(self, c0: int = 0, c1: int | None = None) -> np.ndarray:
        """Centre frequencies (Hz) of channels c0..c1-1."""
        from .summary import frequencies_hz
        return frequencies_hz(self.header, c0, c1)

    @property
    def mask(self):
        """The file's mask (h5py Dataset shaped like the data, read lazily) or None."""
        return self._reader.mask

    def read_mask(self, t0: int = 0, t1: int | None = None, c0: int = 0,
                  c1: int | None = None) -> np.ndarray | None:
        """bool (t, c) mask window of IF ``if_index`` (True = flagged), or None."""
        m = self.mask
        if m is None:
            return None
        t1 = self.header.n_spectra if t1 is None else t1
        c1 = self.header.nchans if c1 is None else c1
        return np.asarray(m[t0:t1, self.if_index, c0:c1]) != 0

    # ---- lifetime ----------------------------------------------------------------------
    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> "Observation":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        h = self.header
        return (f"Observation({str(self.path)!r}, {h.n_spectra} spectra x {h.nchans} "
                f"channels, {self.n_coarse_channels} coarse x {self.nfpc})")


def open_observation(path: str | os.PathLike, n_coarse_chan: int | None = None,
                     if_index: int = 0) -> Observation:
    """Open a .fil or .h5 observation (see Observation). Raises ObservationFormatError
    (ObservationNotFoundError for a missing file) naming the file and the problem."""
    return Observation(path, n_coarse_chan=n_coarse_chan, if_index=if_index)


def read_observation(path: str | os.PathLike, if_index: int = 0
                     ) -> tuple[ObservationHeader, np.ndarray]:
    """(header, float32 (n_spectra, nchans)) of a whole file: for small files only."""
    with open_observation(path, if_index=if_index) as obs:
        return obs.header, obs.read()
