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
SIGMA_SAMPLE = 65_536    # pixels of a block that estimate its median and sigma (~0.5 % error)


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


def _upper_median(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Median along ``axis`` (the upper of the two middle values when their number is even):
    one partition, where np.median costs ~20x more on these sizes."""
    k = a.shape[axis] // 2
    return np.take(np.partition(a, k, axis=axis), k, axis=axis)


def _bandpass_and_scale(block: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(smooth bandpass per channel, median, robust sigma (MAD)) of ``block`` minus that
    bandpass; median and sigma from about SIGMA_SAMPLE evenly spread finite pixels, so the
    block itself is never copied."""
    n_spectra, n = block.shape
    spectrum = block.sum(axis=0) / np.float32(n_spectra)  # float32 sums: one fast pass
    seg = max(16, n // 64)
    n_seg = math.ceil(n / seg)
    padded = np.pad(spectrum, (0, n_seg * seg - n), mode="edge")
    bandpass = np.repeat(_upper_median(padded.reshape(n_seg, seg)), seg)[:n]
    step = max(1, block.size // SIGMA_SAMPLE) | 1     # odd: no lock-step with channel periods
    idx = np.arange(0, block.size, step)
    sample = block.ravel()[idx] - bandpass[idx % n]
    sample = sample[np.isfinite(sample)]
    med = float(_upper_median(sample)) if sample.size else 0.0
    sigma = 1.4826 * float(_upper_median(np.abs(sample - med))) if sample.size else 1.0
    if not math.isfinite(sigma) or sigma <= 0:
        sigma = float(np.std(sample)) if sample.size else 1.0
        sigma = sigma if math.isfinite(sigma) and sigma > 0 else 1.0
    return bandpass, med, sigma


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
        # reduce first (mean over time bins, max over channel bins), taking the bandpass
        # off per bin: no copy of the block
        bandpass, med, sigma = _bandpass_and_scale(block)
        reduced = block
        ft = self.time_factor
        if ft > 1:
            starts = np.arange(0, block.shape[0], ft)
            counts = np.diff(np.append(starts, block.shape[0])).astype(np.float32)
            reduced = np.add.reduceat(block, starts, axis=0, dtype=np.float32) / counts[:, None]
        f = self.channel_factor
        n = block.shape[1]
        first_full = (-channel_offset) % f          # local index where a new column starts
        starts = np.unique(np.concatenate([[0], np.arange(first_full, n, f)])).astype(np.intp)
        # bins that never straddle a change of the (piecewise constant) bandpass
        changes = np.flatnonzero(np.diff(bandpass)) + 1
        fine = np.union1d(starts, changes).astype(np.intp)
        reduced = np.maximum.reduceat(reduced, fine, axis=1) - bandpass[fine]
        if fine.size != starts.size:
            reduced = np.maximum.reduceat(reduced, np.searchsorted(fine, starts), axis=1)
        reduced -= np.float32(med)
        reduced /= np.float32(sigma)
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
