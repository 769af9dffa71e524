"""Taylor-tree de-Doppler kernels (numba, cache=True).

The path shape, drift blocks and the band-leaving rule are defined in ``drift_grid.py``.
The fast path (:func:`max_over_drift`) never stores the whole drift x channel plane: it
walks the band in chunks that fit the CPU cache, builds the tree for every drift block of
the chunk and keeps, per start channel, the largest path sum and its drift index.
:func:`taylor_tree` and :func:`dedoppler` return whole planes, for tests and small data.

All kernels take float32 ``(n_rows, n_chan)`` C-contiguous arrays (one compiled signature).
``direction = +1`` searches paths moving to higher channel index, ``-1`` to lower ones (the
band is read backwards; results are reported at the true start channel).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .drift_grid import DriftGrid, last_row_offsets, next_pow2


@njit(cache=True)
def _copy_reversed(dst, src, n):
    """dst[i] = src[n - 1 - i] for i < n."""
    for i in range(n):
        dst[i] = src[n - 1 - i]


@njit(cache=True)
def _load_block(data, n_rows, c0, width, shift, direction, buf):
    """buf[t, i] = channel c0 + i + shift * t of row t in search direction, 0 outside.

    (Loops index slices from 0 so numba needs no negative-index checks and vectorises.)
    """
    n_chan = data.shape[1]
    n_tree = buf.shape[0]
    for t in range(n_tree):
        row = buf[t]
        stop = 0
        if t < n_rows:
            start = c0 + shift * t
            stop = max(0, min(width, n_chan - start))
            if stop > 0:
                if direction > 0:
                    row[:stop] = data[t, start:start + stop]
                else:
                    hi = n_chan - start  # exclusive end of the mirrored window
                    _copy_reversed(row, data[t, hi - stop:hi], stop)
        row[stop:] = 0.0


@njit(cache=True)
def _add_rows(out, top, bot, n):
    """out[:n] = top[:n] + bot[:n]; a separate function so LLVM vectorises the loop."""
    for i in range(n):
        out[i] = top[i] + bot[i]


@njit(cache=True)
def _fold_max(row, lbest, lk, k, n):
    """lbest[i] = max(lbest[i], row[i]) and lk[i] = k where row[i] won, for i < n."""
    for i in range(n):
        v = row[i]
        better = v > lbest[i]
        lbest[i] = v if better else lbest[i]
        lk[i] = k if better else lk[i]


@njit(cache=True)
def _tree_stages(src, dst, width):
    """Run all Taylor stages on ``src`` rows (power-of-two count); returns the result buffer.

    After the stage merging groups of m rows into 2m, row g + j holds drift j of the group
    starting at row g: top drift j // 2 plus bottom drift j // 2 shifted by ceil(j / 2).
    """
    n_tree = src.shape[0]
    m = 1
    while m < n_tree:
        for g in range(0, n_tree, 2 * m):
            for j in range(2 * m):
                jj = j >> 1
                s = j - jj
                n = width - s
                _add_rows(dst[g + j], src[g + jj], src[g + m + jj, s:], n)
                dst[g + j, n:] = src[g + jj, n:]
        src, dst = dst, src
        m *= 2
    return src


def _max_over_drift_py(data, n_rows, n_tree, k_min, k_max, direction, last_off,
                           chunk, best, best_k):
    """Update best[c] / best_k[c] (true channel order) with the largest in-band path sum."""
    n_chan = data.shape[1]
    n_chunks = (n_chan + chunk - 1) // chunk
    step = n_tree - 1 if n_tree > 1 else 1
    n_blocks = k_max // step + 1
    for ci in prange(n_chunks):
        c0 = ci * chunk
        w = min(chunk, n_chan - c0)
        width = min(w + n_tree, n_chan - c0)  # in-band paths never reach further
        bufa = np.empty((n_tree, width), dtype=np.float32)
        bufb = np.empty((n_tree, width), dtype=np.float32)
        lbest = np.full(w, -np.inf, dtype=np.float32)
        lk = np.zeros(w, dtype=np.int32)
        for b in range(n_blocks):
            k_lo = b * step
            if k_lo > k_max:
                break
            if k_lo + n_tree - 1 < k_min:
                continue
            if b * (n_rows - 1) + c0 >= n_chan:
                break  # every path of this block leaves the band
            _load_block(data, n_rows, c0, width, b, direction, bufa)
            res = _tree_stages(bufa, bufb, width)
            jmax = n_tree - 1 if n_tree > 1 else 1
            for j in range(jmax):
                k = k_lo + j
                if k > k_max:
                    break
                if k < k_min or (direction < 0 and k == 0):
                    continue
                end = b * (n_rows - 1) + last_off[j]
                lim = min(w, n_chan - end - c0)
                if lim > 0:
                    _fold_max(res[j], lbest, lk, k, lim)
        for i in range(w):
            c = c0 + i if direction > 0 else n_chan - 1 - (c0 + i)
            if lbest[i] > best[c]:
                best[c] = lbest[i]
                best_k[c] = lk[i] * direction


# The same kernel twice: threaded for wide bands, serial for small blocks (thread start-up
# costs more than the work there, badly so on a busy machine).
_max_over_drift_kernel = njit(cache=True, parallel=True)(_max_over_drift_py)
_max_over_drift_serial = njit(cache=True)(_max_over_drift_py)
PARALLEL_MIN_CHUNKS = 4


def _as_f32(data: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(data, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"de-Doppler input must be 2-D (n_spectra, n_channels), got {a.shape}")
    return a


def chunk_width(n_tree: int, n_chan: int) -> int:
    """Channels per cache chunk: keeps the two tree buffers near 512 KiB, >= 4 * n_tree."""
    w = max(4 * n_tree, (1 << 16) // n_tree - n_tree, 64)
    return int(min(w, n_chan))


def max_over_drift(data: np.ndarray, grid: DriftGrid) -> tuple[np.ndarray, np.ndarray]:
    """Largest in-band path sum over all searched drifts, per start channel.

    Returns ``(best, best_k)``: float32 path sums (-inf where no drift was searched) and
    int64 signed drift indices (positive: path moves to higher channel index).
    """
    a = _as_f32(data)
    n_chan = a.shape[1]
    best = np.full(n_chan, -np.inf, dtype=np.float32)
    best_k = np.zeros(n_chan, dtype=np.int64)
    if n_chan == 0 or grid.k_min > grid.k_max:
        return best, best_k
    last_off = last_row_offsets(grid.n_rows, grid.n_tree)
    chunk = chunk_width(grid.n_tree, n_chan)
    n_chunks = -(-n_chan // chunk)
    kernel = _max_over_drift_kernel if n_chunks >= PARALLEL_MIN_CHUNKS else _max_over_drift_serial
    for direction in (1, -1):
        kernel(a, grid.n_rows, grid.n_tree, grid.k_min, grid.k_max,
                               direction, last_off, chunk, best, best_k)
    return best, best_k


@njit(cache=True)
def _plane_kernel(data, n_rows, n_tree, k_max, direction, last_off, out):
    """out[k, c] = path sum of drift k (in ``direction``) from true channel c; NaN if dropped."""
    n_chan = data.shape[1]
    step = n_tree - 1 if n_tree > 1 else 1
    width = n_chan + n_tree
    bufa = np.empty((n_tree, width), dtype=np.float32)
    bufb = np.empty((n_tree, width), dtype=np.float32)
    for b in range(k_max // step + 1):
        _load_block(data, n_rows, 0, width, b, direction, bufa)
        res = _tree_stages(bufa, bufb, width)
        for j in range(n_tree):
            k = b * step + j
            if k > k_max:
                break
            end = b * (n_rows - 1) + last_off[j]
            for i in range(n_chan):
                c = i if direction > 0 else n_chan - 1 - i
                out[k, c] = res[j, i] if i + end < n_chan else np.nan


def dedoppler(data: np.ndarray, k_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole de-Doppler plane for drift indices -k_max..k_max (small inputs only).

    Returns ``(k, sums)``: int64 drift indices and float32 ``(2 k_max + 1, n_chan)`` path
    sums indexed by start channel; NaN where the path leaves the band.
    """
    a = _as_f32(data)
    n_rows = a.shape[0]
    n_tree = next_pow2(n_rows)
    if n_tree == 1:
        k_max = 0
    last_off = last_row_offsets(n_rows, n_tree)
    pos = np.empty((k_max + 1, a.shape[1]), dtype=np.float32)
    neg = np.empty((k_max + 1, a.shape[1]), dtype=np.float32)
    _plane_kernel(a, n_rows, n_tree, k_max, 1, last_off, pos)
    _plane_kernel(a, n_rows, n_tree, k_max, -1, last_off, neg)
    ks = np.arange(-k_max, k_max + 1, dtype=np.int64)
    return ks, np.concatenate([neg[:0:-1], pos], axis=0)


def taylor_tree(data: np.ndarray) -> np.ndarray:
    """Plain Taylor tree: ``(T2, n_chan)`` sums of drifts 0..T2-1 (rows padded to T2).

    Row ``j`` holds the sum along path P(j, t) from each start channel; NaN where the path
    leaves the band.
    """
    a = _as_f32(data)
    n_tree = next_pow2(a.shape[0])
    return dedoppler(a, n_tree - 1)[1][n_tree - 1:]
