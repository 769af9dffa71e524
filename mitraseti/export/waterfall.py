"""A screen-resolution waterfall of the whole observation, built one coarse channel at a time.

Each coarse-channel block is flattened (its bandpass, estimated as a running median of the
time-averaged spectrum over segments much wider than a narrowband signal, is subtracted and
the result divided by a robust noise sigma), then reduced with a MAX over blocks of adjacent
fine channels, so a signal one channel wide stays visible, and a MEAN over blocks of adjacent
spectra (when there are more spectra than rows), which lowers the noise and keeps persistent
signals visible. Memory is
bounded by one coarse channel plus the output image (at most ``max_rows x max_columns``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mitraseti.io.header import ObservationHeader

MAX_COLUMNS = 2048
MAX_ROWS = 512


@dataclass
class Waterfall:
    """Decimated waterfall in sigma units above the local bandpass.

    ``power``: float32 (rows, columns) in FILE channel order (column 0 = channel 0);
    ``freq_edges_mhz``: frequency of the outer edge of channel 0 and of the last channel
    (MHz, may be decreasing when foff < 0); ``time_extent_s``: (0, n_spectra * tsamp).
    """

    power: np.ndarray
    freq_edges_mhz: tuple[float, float]
    time_extent_s: tuple[float, float]
    channel_factor: int
    time_factor: int

    def ascending(self) -> tuple[np.ndarray, tuple[float, float]]:
        """(power, (f_low, f_high)) with frequency increasing with column index."""
        f0, f1 = self.freq_edges_mhz
        if f0 <= f1:
            return self.power, (f0, f1)
        return self.power[:, ::-1], (f1, f0)


def _flatten(block: np.ndarray) -> np.ndarray:
    """Subtract a smooth bandpass and divide by a robust sigma (MAD) of the block."""
    n_spectra, n = block.shape
    spectrum = block.mean(axis=0, dtype=np.float64)
    seg = max(16, n // 64)
    n_seg = math.ceil(n / seg)
    padded = np.pad(spectrum, (0, n_seg * seg - n), mode="edge")
    bandpass = np.repeat(np.median(padded.reshape(n_seg, seg), axis=1), seg)[:n]
    flat = block.astype(np.float32) - bandpass.astype(np.float32)
    step = max(1, flat.size // 1_000_000)
    sample = flat.ravel()[::step]
    med = float(np.median(sample))
    sigma = 1.4826 * float(np.median(np.abs(sample - med)))
    if not math.isfinite(sigma) or sigma <= 0:
        sigma = float(np.std(sample)) or 1.0
    return (flat - np.float32(med)) / np.float32(sigma)


class WaterfallAccumulator:
    """Collects coarse-channel blocks into one decimated :class:`Waterfall`.

    Use: ``acc = WaterfallAccumulator(header)``, then ``acc.add(block, channel_offset)`` for
    every coarse channel (any order), then ``acc.result()``.
    """

    def __init__(self, header: ObservationHeader, max_columns: int = MAX_COLUMNS,
                 max_rows: int = MAX_ROWS) -> None:
        self.header = header
        self.nchans = int(header.nchans)
        self.n_spectra = int(header.n_spectra)
        self.channel_factor = max(1, math.ceil(self.nchans / max_columns))
        self.time_factor = max(1, math.ceil(self.n_spectra / max_rows))
        cols = math.ceil(self.nchans / self.channel_factor)
        rows = math.ceil(max(self.n_spectra, 1) / self.time_factor)
        self._image = np.full((rows, cols), -np.inf, dtype=np.float32)

    def add(self, block: np.ndarray, channel_offset: int) -> None:
        """Fold one ``(n_spectra, n)`` block whose first column is file channel
        ``channel_offset`` into the image."""
        if block.ndim != 2 or block.shape[1] == 0:
            return
        flat = _flatten(block)
        ft = self.time_factor
        if ft > 1:
            starts = np.arange(0, flat.shape[0], ft)
            counts = np.diff(np.append(starts, flat.shape[0])).astype(np.float32)
            flat = np.add.reduceat(flat, starts, axis=0) / counts[:, None]
        f = self.channel_factor
        n = flat.shape[1]
        first_full = (-channel_offset) % f          # local index where a new column starts
        starts = np.unique(np.concatenate([[0], np.arange(first_full, n, f)])).astype(np.intp)
        reduced = np.maximum.reduceat(flat, starts, axis=1)
        cols = (channel_offset + starts) // f
        rows = min(reduced.shape[0], self._image.shape[0])
        target = self._image[:rows, cols]
        self._image[:rows, cols] = np.fmax(target, reduced[:rows])

    def result(self) -> Waterfall:
        h = self.header
        img = self._image.copy()
        img[np.isneginf(img)] = np.nan
        f_first = h.fch1 - 0.5 * h.foff
        f_last = h.fch1 + (self.nchans - 0.5) * h.foff
        return Waterfall(power=img, freq_edges_mhz=(float(f_first), float(f_last)),
                         time_extent_s=(0.0, float(h.obs_length_s)),
                         channel_factor=self.channel_factor, time_factor=self.time_factor)
