"""The drift-rate grid and the Taylor path shape, shared by the tree and its tests.

Grid (turboSETI >= 2.2.3 convention)
------------------------------------
The tree works on ``T2`` rows: the ``T`` spectra padded with zero rows to the next power
of two (turboSETI 2.3.2 pads the same way and then uses ``T2`` in its resolution). Drift
index ``k`` means a path that moves ``k`` channels over ``T2 - 1`` spectra, so the grid step
is ``r = df / ((T2 - 1) dt)`` Hz/s. When ``T`` is a power of two (BL data: 16, 32, ...)
this is exactly docs/signals.md's ``r = df / ((T - 1) dt)``; otherwise the grid is finer.
Zero rows add nothing to a path sum, so the normalisation is that of the ``T`` real rows.

Path shape
----------
Within one block of ``T2`` rows, drift ``j`` (0 <= j < T2) follows the recursive Taylor path

    P(j, t, n) = 0                                   if n == 1
               = P(j // 2, t, n/2)                   if t <  n/2
               = ceil(j / 2) + P(j // 2, t - n/2, n/2) otherwise

which starts at offset 0, ends at offset ``j`` and never decreases. Drifts beyond ``T2 - 1``
channels use blocks: ``k = b (T2 - 1) + j`` with path ``b t + P(j, t, T2)`` (each row is
shifted by ``b t`` channels before the tree). Negative drifts are the mirror image (the
band is read backwards). A path is kept only when every real row lies inside the band:
paths that leave the band are dropped, never wrapped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def next_pow2(n: int) -> int:
    """Smallest power of two >= n (n >= 1)."""
    return 1 << max(0, int(n - 1).bit_length())


def taylor_path_offset(j: int, t: int, n: int) -> int:
    """Channel offset of drift ``j`` at row ``t`` in a Taylor block of ``n`` rows (pure Python)."""
    off = 0
    while n > 1:
        half = n // 2
        if t >= half:
            off += j - j // 2
            t -= half
        j //= 2
        n = half
    return off


def path_offset(k: int, t: int, n: int) -> int:
    """Offset of grid drift ``k >= 0`` at row ``t`` for a tree of ``n`` rows (blocks included)."""
    if n <= 1:
        return 0
    b, j = divmod(k, n - 1)
    return b * t + taylor_path_offset(j, t, n)


@lru_cache(maxsize=64)
def _last_row_offsets(n_rows: int, n_tree: int) -> np.ndarray:
    t = max(n_rows - 1, 0)
    out = np.array([taylor_path_offset(j, t, n_tree) for j in range(n_tree)], dtype=np.int64)
    out.flags.writeable = False
    return out


def last_row_offsets(n_rows: int, n_tree: int) -> np.ndarray:
    """P(j, n_rows - 1, n_tree) for j in 0..n_tree-1: where each in-block path ends (int64,
    read-only, cached)."""
    return _last_row_offsets(int(n_rows), int(n_tree))


@dataclass(frozen=True)
class DriftGrid:
    """Drift grid of one search over ``n_rows`` spectra of ``chan_width_hz`` channels.

    ``chan_width_hz`` is the width of one (possibly decimated) channel, ``dt`` the time
    between spectra in s. ``k_min`` .. ``k_max`` is the searched range of |drift index|;
    ``window`` is turboSETI's top-hit suppression distance 2 * ceil(max_drift / r) channels.
    """

    n_rows: int
    n_tree: int
    chan_width_hz: float
    dt: float
    k_min: int
    k_max: int
    window: int = 1

    @classmethod
    def build(cls, n_rows: int, chan_width_hz: float, dt: float,
              max_drift: float, min_drift: float = 0.0) -> "DriftGrid":
        """Grid for |drift| in [min_drift, max_drift] Hz/s on ``n_rows`` spectra."""
        if n_rows < 1:
            raise ValueError(f"need at least one spectrum, got n_rows={n_rows}")
        n_tree = next_pow2(n_rows)
        if n_tree == 1:
            return cls(n_rows, 1, chan_width_hz, dt, 0, 0, 1)
        r = chan_width_hz / ((n_tree - 1) * dt)
        k_max = int(math.floor(max_drift / r + 1e-9))
        k_min = int(math.ceil(min_drift / r - 1e-9)) if min_drift > 0 else 0
        window = max(1, 2 * int(math.ceil(max_drift / r - 1e-9)))
        return cls(n_rows, n_tree, chan_width_hz, dt, min(k_min, k_max + 1), k_max, window)

    @property
    def resolution(self) -> float:
        """Grid step in Hz/s (inf for a single spectrum)."""
        if self.n_tree <= 1:
            return math.inf
        return self.chan_width_hz / ((self.n_tree - 1) * self.dt)

    @property
    def n_blocks(self) -> int:
        """Number of T2-row blocks needed to reach k_max."""
        if self.n_tree <= 1:
            return 1
        return self.k_max // (self.n_tree - 1) + 1

    def channels_per_spectrum(self, k: int) -> float:
        """Mean drift of grid index ``k`` in channels per spectrum."""
        return 0.0 if self.n_tree <= 1 else k / (self.n_tree - 1)

    def end_offset(self, k: int) -> int:
        """Offset of the path of |index| k at the last real row (its in-band extent)."""
        return path_offset(abs(k), self.n_rows - 1, self.n_tree)
