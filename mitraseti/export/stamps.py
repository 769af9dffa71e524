"""Candidate stamps: a small window of data around one hit, raw and de-drifted.

Stamps are cut while a coarse channel is in memory (the pipeline offers every candidate of a
block to a :class:`StampKeeper`, which keeps only the current top N), so making them never
needs a second pass over the file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mitraseti.io.header import ObservationHeader
from mitraseti.search.hit import Hit

HALF_WIDTH = 32          # de-drifted stamp: channels each side of the signal
MARGIN = 32              # raw stamp: channels beyond the drift path on each side
MAX_RAW_COLUMNS = 512    # wider raw windows are MAX-decimated to this many columns


@dataclass
class Stamp:
    """``raw``: float32 (n_spectra, columns) around the drift path, file channel order,
    spanning file channels ``raw_channels`` = (first, last + 1) decimated by
    ``raw_factor``; ``dedrifted``: float32 (n_spectra, 2 * HALF_WIDTH + 1), each spectrum
    shifted so the signal sits in the centre column (NaN outside the band);
    ``df_hz``: fine channel width; ``dt_s``: time between spectra."""

    raw: np.ndarray
    dedrifted: np.ndarray
    raw_channels: tuple[int, int]
    raw_factor: int
    raw_freq_edges_mhz: tuple[float, float]
    df_hz: float
    dt_s: float


def cut_stamp(block: np.ndarray, header: ObservationHeader, hit: Hit,
              channel_offset: int = 0, half_width: int = HALF_WIDTH) -> Stamp:
    """Cut the stamp of ``hit`` from a ``(n_spectra, n)`` block starting at file channel
    ``channel_offset``."""
    n_spectra, n = block.shape
    c0 = float(hit.channel_index - channel_offset)
    rate = header.channels_per_spectrum(hit.drift_rate)
    c_end = c0 + rate * (n_spectra - 1)
    lo = int(max(0, math.floor(min(c0, c_end)) - MARGIN))
    hi = int(min(n, math.ceil(max(c0, c_end)) + MARGIN + 1))
    raw = np.array(block[:, lo:hi], dtype=np.float32)  # a copy: a view would keep the block
    factor = max(1, math.ceil(raw.shape[1] / MAX_RAW_COLUMNS))
    if factor > 1:
        raw = np.maximum.reduceat(raw, np.arange(0, raw.shape[1], factor), axis=1)

    width = 2 * half_width + 1
    dedrifted = np.full((n_spectra, width), np.nan, dtype=np.float32)
    for t in range(n_spectra):
        centre = int(round(c0 + rate * t))
        a, b = centre - half_width, centre + half_width + 1
        sa, sb = max(a, 0), min(b, n)
        if sa < sb:
            dedrifted[t, sa - a:sb - a] = block[t, sa:sb]

    f_lo = header.fch1 + (channel_offset + lo - 0.5) * header.foff
    f_hi = header.fch1 + (channel_offset + hi - 0.5) * header.foff
    return Stamp(raw=raw, dedrifted=dedrifted,
                 raw_channels=(channel_offset + lo, channel_offset + hi), raw_factor=factor,
                 raw_freq_edges_mhz=(float(f_lo), float(f_hi)), df_hz=header.df_hz,
                 dt_s=header.dt_s)


class StampKeeper:
    """Keeps stamps for the best ``n`` hits offered so far (by a ranking key).

    ``offer(hit, block, header, offset)`` cuts a stamp only when the hit would enter the top
    ``n``; memory stays bounded by ``n`` stamps.
    """

    def __init__(self, key, n: int = 20) -> None:
        self.key = key
        self.n = n
        self._kept: list[tuple[tuple, Hit, Stamp]] = []

    def offer(self, hit: Hit, block: np.ndarray, header: ObservationHeader,
              channel_offset: int) -> None:
        k = self.key(hit)
        if len(self._kept) >= self.n and k <= self._kept[-1][0]:
            return
        self._kept.append((k, hit, cut_stamp(block, header, hit, channel_offset)))
        self._kept.sort(key=lambda item: item[0], reverse=True)
        del self._kept[self.n:]

    def stamps(self) -> dict[int, Stamp]:
        """id(hit) -> Stamp for the hits kept."""
        return {id(hit): stamp for _, hit, stamp in self._kept}
