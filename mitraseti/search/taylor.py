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

import threading
import types

import numpy as np
from numba import get_num_threads

from ..jit import njit, prange
from .drift_grid import DriftGrid, last_row_offsets, next_pow2


@njit(cache=True)
def _copy_reversed(dst, src, n):
    """dst[i] = src[n - 1 - i] for i < n (unsigned index: no wrap-around check, so LLVM
    vectorises the loop; 3-4x faster)."""
    for i in range(n):
        dst[i] = src[np.uint64(n - 1 - i)]


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
def _tree_stage(src, dst, m, width, keep_tails):
    """One Taylor stage: merge each group of m rows of ``src`` into 2m rows of ``dst``.

    Row g + j of the result holds drift j of the group starting at row g: top drift
    j // 2 plus bottom drift j // 2 shifted by ceil(j / 2). ``keep_tails``: copy the last
    ceil(j / 2) channels, which have no shifted partner, from the top row (exact sums for
    every channel); without it they keep stale values (callers that never read them)."""
    for g in range(0, src.shape[0], 2 * m):
        for j in range(2 * m):
            jj = j >> 1
            s = j - jj
            n = width - s
            _add_rows(dst[g + j], src[g + jj], src[g + m + jj, s:], n)
            if keep_tails:
                dst[g + j, n:] = src[g + jj, n:]


@njit(cache=True)
def _tree_stages(src, dst, width):
    """Run all Taylor stages on ``src`` rows (power-of-two count); returns the result buffer.

    After the stage merging groups of m rows into 2m, row g + j holds drift j of the group
    starting at row g: top drift j // 2 plus bottom drift j // 2 shifted by ceil(j / 2).
    """
    m = 1
    while m < src.shape[0]:
        _tree_stage(src, dst, m, width, True)
        src, dst = dst, src
        m *= 2
    return src


@njit(cache=True)
def _fold_pair(lbest, lk, top, bot, k, n):
    """Last tree stage fused with the drift maximum: v = top + bot, kept where larger."""
    for i in range(n):
        v = top[i] + bot[i]
        better = v > lbest[i]
        lbest[i] = v if better else lbest[i]
        lk[i] = k if better else lk[i]


@njit(cache=True)
def _fold_row(lbest, lk, row, k, n):
    """lbest / lk: running maximum over drift of ``row`` (drift index k), for i < n."""
    for i in range(n):
        v = row[i]
        better = v > lbest[i]
        lbest[i] = v if better else lbest[i]
        lk[i] = k if better else lk[i]


@njit(cache=True)
def _add_into(dst, src, n):
    """dst[:n] += src[:n]."""
    for i in range(n):
        dst[i] += src[i]


@njit(cache=True)
def _add_into_strided(dst, src, stride, n):
    """dst[i] += src[stride * i] for i < n (unsigned index: no wrap-around check, so LLVM
    vectorises the loop)."""
    for i in range(n):
        dst[i] += src[np.uint64(i * stride)]


@njit(cache=True)
def _boxcar_row(vrow, nv, levels, acc, wm, n):
    """acc[i] = sum(vrow[i:i + wm]) for i < n, from doubling sums (log2(wm) + popcount(wm)
    - 1 vectorised passes); ``levels[l]`` holds sums of 2**l values (l >= 1), vrow valid
    for nv >= n + wm - 1 entries."""
    top = 0
    while (2 << top) <= wm:
        top += 1
    for lv in range(1, top + 1):
        half = 1 << (lv - 1)
        src = vrow if lv == 1 else levels[lv - 1]
        _add_rows(levels[lv], src, src[half:], nv - (1 << lv) + 1)
    first = vrow if top == 0 else levels[top]
    acc[:n] = first[:n]
    off = 1 << top
    for lv in range(top - 1, -1, -1):
        if (wm >> lv) & 1:
            src = vrow if lv == 0 else levels[lv]
            _add_into(acc, src[off:], n)
            off += 1 << lv


@njit(cache=True)
def _view_segment(seg, srow, i0, nv, per, stride):
    """seg[x] = sum(srow[(i0 + x) * stride + u] for u < per), x < nv: channels i0 ..
    i0 + nv - 1 of a boxcar view, computed from a (pair-summed) source row."""
    base = i0 * stride
    if stride == 1:
        seg[:nv] = srow[base:base + nv]
        for u in range(1, per):
            _add_into(seg, srow[base + u:], nv)
    else:
        for x in range(nv):  # unsigned indices: no wrap-around checks, vectorised
            seg[x] = srow[np.uint64(base + x * stride)]
        for u in range(1, per):
            _add_into_strided(seg, srow[base + u:], stride, nv)


@njit(cache=True)
def _fill_window(data, n_rows, c0, direction, win, win_w, n_chan, per, stride, seg):
    """win[t, x] = channel c0 + x of row t of the searched view, in search direction
    (x < win_w); zero outside band / rows. The view has ``n_chan`` channels: channel i
    is sum(data[t, i * stride + u] for u < per) (per = stride = 1: data itself)."""
    nv = max(0, min(win_w, n_chan - c0))
    for t in range(win.shape[0]):
        row = win[t]
        if t < n_rows and nv > 0:
            i0 = c0 if direction > 0 else n_chan - c0 - nv
            if per == 1 and stride == 1:
                src = data[t, i0:i0 + nv]
            else:
                _view_segment(seg, data[t], i0, nv, per, stride)
                src = seg[:nv]
            if direction > 0:
                row[:nv] = src
            else:
                _copy_reversed(row, src, nv)
            row[nv:win_w] = 0.0
        else:
            row[:win_w] = 0.0


def _max_over_drift_py(data, n_rows, n_tree, k_min, k_max, last_off, chunk, direction,
                       best, best_k, band_w, band_klo, band_khi, band_best, band_k, groups,
                       n_chan, per, stride):
    """best[c] / best_k[c]: largest in-band path sum and its signed drift index per true
    start channel c, updated (where larger) with the paths of one ``direction`` (+1:
    upward, -1: downward). Run +1 first: ties keep the upward (or zero) drift.

    Per chunk of start channels: one zero-padded window of the data (mirrored for
    direction -1) serves every drift block; the first tree stage reads the window with
    the block's row shifts, the last stage is fused with the running maximum over drift.

    Boxcar bands (matched filter at full resolution): the tree is linear, so the path sum
    of boxcar-filtered data equals the boxcar (over start channel) of the plain path sums.
    For drifts band_klo[m] .. band_khi[m], the sums of ``band_w[m]`` adjacent start
    channels are maximised into band_best[m, c] / band_k[m, c], c being the lowest true
    channel of the boxcar (a path counts when all its channels stay in the band).

    The searched view has ``n_chan`` channels, channel i of row t being
    sum(data[t, i * stride + u] for u < per): a boxcar-decimated copy computed on the fly
    per chunk (per = stride = 1: the data itself).
    """
    step = n_tree - 1 if n_tree > 1 else 1
    b_lo = k_min // step
    b_hi = k_max // step
    max_shift = b_hi * (n_rows - 1)
    n_chunks = (n_chan + chunk - 1) // chunk
    half = n_tree // 2
    n_bands = band_w.shape[0]
    w_extra = 0
    for m in range(n_bands):
        w_extra = max(w_extra, band_w[m] - 1)
    # work buffers are allocated once per group of consecutive chunks (allocation and
    # zero-filling per chunk cost as much as a drift block); stale values in buffer
    # tails never reach an in-band output (each tree stage only shortens the valid span)
    n_groups = min(n_chunks, max(1, groups))
    per_group = (n_chunks + n_groups - 1) // n_groups
    win_w = min(chunk + n_tree + w_extra, n_chan) + max_shift + 1
    buf_w = min(chunk + n_tree + w_extra, n_chan)
    n_lev = 1
    while (1 << n_lev) <= w_extra + 1:
        n_lev += 1
    for grp in prange(n_groups):
        win_all = np.empty((n_tree, win_w), dtype=np.float32)
        bufa_all = np.zeros((n_tree, buf_w), dtype=np.float32)
        bufb_all = np.zeros((n_tree, buf_w), dtype=np.float32)
        lbest_all = np.empty(chunk, dtype=np.float32)
        lk_all = np.empty(chunk, dtype=np.int32)
        lbb_all = np.empty((n_bands, chunk), dtype=np.float32)
        lbk_all = np.empty((n_bands, chunk), dtype=np.int32)
        vrow = np.empty(buf_w, dtype=np.float32)
        acc = np.empty(chunk, dtype=np.float32)
        levels = np.empty((n_lev, buf_w), dtype=np.float32)
        seg = np.empty(win_w, dtype=np.float32)
        for q in range(grp * per_group, min(n_chunks, (grp + 1) * per_group)):
            _chunk_max(data, n_rows, n_tree, k_min, k_max, last_off, chunk, direction,
                       best, best_k, band_w, band_klo, band_khi, band_best, band_k,
                       q, b_lo, b_hi, max_shift, w_extra, step, half, n_bands,
                       win_all, bufa_all, bufb_all, lbest_all, lk_all, lbb_all, lbk_all,
                       vrow, acc, levels, n_chan, per, stride, seg)


@njit(cache=True)
def _chunk_max(data, n_rows, n_tree, k_min, k_max, last_off, chunk, direction,
               best, best_k, band_w, band_klo, band_khi, band_best, band_k,
               q, b_lo, b_hi, max_shift, w_extra, step, half, n_bands,
               win_all, bufa_all, bufb_all, lbest_all, lk_all, lbb_all, lbk_all,
               vrow, acc, levels, n_chan, per, stride, seg):
    """One chunk of start channels of :func:`_max_over_drift_py` (buffers given)."""
    c0 = q * chunk
    w = min(chunk, n_chan - c0)
    width = min(w + n_tree + w_extra, n_chan - c0)  # in-band paths never reach further
    # whole buffers (C-contiguous rows, so the row loops vectorise); lengths are explicit
    win = win_all
    _fill_window(data, n_rows, c0, direction, win, width + max_shift + 1, n_chan, per,
                 stride, seg)
    bufa = bufa_all
    bufb = bufb_all
    lbest = lbest_all
    lbest[:w] = -np.inf
    lk = lk_all
    lk[:w] = 0
    lbb = lbb_all
    lbk = lbk_all
    for m in range(n_bands):
        lbb[m, :w] = -np.inf
        lbk[m, :w] = 0
    for b in range(b_lo, b_hi + 1):
        if b * (n_rows - 1) + c0 >= n_chan:
            break  # every path of this block leaves the band
        if n_tree <= 2:  # one or two spectra: no tree, k = b
            k = b
            end = b * (n_rows - 1)
            lim = min(w, n_chan - end - c0)
            if k >= k_min and not (direction < 0 and k == 0) and lim > 0:
                other = win[1, b:] if n_tree == 2 else bufa[0]  # bufa is zeros
                _fold_pair(lbest, lk, win[0], other, k, lim)
            continue
        # stage 1 (pairs of rows) straight from the window, with the block's shifts
        for p in range(half):
            t0 = 2 * p
            s0 = b * t0 if t0 < n_rows else 0
            s1 = b * (t0 + 1) if t0 + 1 < n_rows else 0
            _add_rows(bufa[t0], win[t0, s0:], win[t0 + 1, s1:], width)
            _add_rows(bufa[t0 + 1], win[t0, s0:], win[t0 + 1, s1 + 1:], width)
        src = bufa
        dst = bufb
        m = 2
        while m < half:
            _tree_stage(src, dst, m, width, False)
            src, dst = dst, src
            m *= 2
        # last stage fused with the maximum over drift
        for j in range(n_tree - 1):
            k = b * step + j
            if k > k_max:
                break
            if k < k_min or (direction < 0 and k == 0):
                continue
            end = b * (n_rows - 1) + last_off[j]
            lim = min(w, n_chan - end - c0)
            if lim <= 0:
                continue
            jj = j >> 1
            in_band = False
            for m in range(n_bands):
                if band_klo[m] <= k <= band_khi[m]:
                    in_band = True
            if not in_band:
                _fold_pair(lbest, lk, src[jj], src[half + jj, j - jj:], k, lim)
                continue
            nv = min(width - (j - jj), w + w_extra)
            _add_rows(vrow, src[jj], src[half + jj, j - jj:], nv)
            _fold_row(lbest, lk, vrow, k, lim)
            for m in range(n_bands):
                wm = band_w[m]
                lim_m = min(w, n_chan - end - c0 - (wm - 1))
                if band_klo[m] <= k <= band_khi[m] and lim_m > 0:
                    if wm == 2:  # one fused pass: pair sum and running maximum
                        _fold_pair(lbb[m], lbk[m], vrow, vrow[1:], k, lim_m)
                        continue
                    _boxcar_row(vrow, lim_m + wm - 1, levels, acc, wm, lim_m)
                    _fold_row(lbb[m], lbk[m], acc, k, lim_m)
    for i in range(w):  # chunks of one direction write disjoint channels
        c = c0 + i if direction > 0 else n_chan - 1 - (c0 + i)
        if lbest[i] > best[c]:
            best[c] = lbest[i]
            best_k[c] = lk[i] * direction
    # a band sum over start channels c .. c + w - 1 belongs to its lowest true channel
    for m in range(n_bands):
        wm = band_w[m]
        for i in range(w):
            c = c0 + i if direction > 0 else n_chan - 1 - (c0 + i) - (wm - 1)
            if c >= 0 and lbb[m, i] > band_best[m, c]:
                band_best[m, c] = lbb[m, i]
                band_k[m, c] = lbk[m, i] * direction


def serial_twin(py_func):
    """A copy of ``py_func`` under another name, so its serial compilation gets its own
    numba cache entry (the cache is keyed by function name, not by ``parallel``)."""
    twin = types.FunctionType(py_func.__code__, py_func.__globals__,
                              py_func.__name__ + "_serial", py_func.__defaults__,
                              py_func.__closure__)
    twin.__qualname__ = py_func.__qualname__ + "_serial"
    return twin


# The same kernel twice: threaded for wide bands, serial for small blocks (thread start-up
# costs more than the work there, badly so on a busy machine).
_max_over_drift_kernel = njit(cache=True, parallel=True)(_max_over_drift_py)
_max_over_drift_serial = njit(cache=True)(serial_twin(_max_over_drift_py))
PARALLEL_MIN_CHUNKS = 2


def _as_f32(data: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(data, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"de-Doppler input must be 2-D (n_spectra, n_channels), got {a.shape}")
    return a


def chunk_width(n_tree: int, n_chan: int) -> int:
    """Start channels per work chunk: tree buffers of ~128 KiB (L2-resident), >= 4 * n_tree."""
    return int(min(max(4 * n_tree, 32768 // n_tree, 64), max(n_chan, 1)))


def max_over_drift(data: np.ndarray, grid: DriftGrid, bands: list | None = None,
                   boxcar: tuple[int, int] = (1, 1)):
    """Largest in-band path sum over all searched drifts, per start channel.

    Returns ``(best, best_k)``: float32 path sums (-inf where no drift was searched) and
    int64 signed drift indices (positive: path moves to higher channel index).
    With ``bands`` = [(width, k_lo, k_hi), ...] (drift indices on ``grid``), returns
    ``(best, best_k, [(band_best, band_k), ...])`` where band_best[c] is the largest sum of
    the paths starting at channels c .. c + width - 1 (a full-resolution boxcar matched
    filter for those drifts), computed in the same pass.

    ``boxcar = (per, stride)`` searches, instead of ``data``, its boxcar view whose
    channel i is sum(data[:, i * stride + u] for u < per), built chunk by chunk inside the
    kernel (never stored): with ``data`` a pair-summed copy of the block this is the
    matched-filter view of width per * 2**level every stride * 2**level channels.
    """
    best, k32, band_results = _max_over_drift(_as_f32(data), grid, bands, boxcar)
    if bands is None:
        return best, k32.astype(np.int64)
    return best, k32.astype(np.int64), [(b, k.astype(np.int64)) for b, k in band_results]


_WORKSPACE = threading.local()
# workspace names of _max_over_drift's outputs (reuse=True): best, k, band best, band k
OUTPUT_BUFFERS = ("mod_best", "mod_k", "mod_band_best", "mod_band_k")


def workspace(name: str, size: int, dtype) -> np.ndarray:
    """A 1-D scratch array of ``size`` elements, reused across calls in this thread.

    Fresh multi-MiB arrays cost a page fault per 4 KiB on first touch, which on virtual
    machines is as slow as the search itself; the search's large per-stage temporaries
    (pyramid levels, per-channel maxima) come from here instead. A name must not be in
    use twice at once: asking for it again ends the previous array's use. A buffer grows
    with 1/16 headroom, so slightly larger requests (level-1 pieces, whose margins differ
    by stage) reuse it; headroom never touched costs no memory. When it must grow, the
    old buffer is freed first (unless still referenced). :func:`release_workspace` frees
    this thread's buffers."""
    store = getattr(_WORKSPACE, "buffers", None)
    if store is None:
        store = _WORKSPACE.buffers = {}
    dtype = np.dtype(dtype)
    buf = store.get(name)
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = store[name] = None  # the old one is free before the new one is made
        buf = store[name] = np.empty(max(int(size) + int(size) // 16, 1), dtype=dtype)
    return buf[:size]


def output_workspace(names, n_chan: int, n_bands: int) -> tuple[np.ndarray, ...]:
    """A drift search's outputs from this thread's workspace, under the four ``names``:
    best (float32, n_chan), its drift index (int32, n_chan) and the same two per fused
    band (n_bands, n_chan). Contents are left over from earlier use."""
    best = workspace(names[0], n_chan, np.float32)
    k32 = workspace(names[1], n_chan, np.int32)
    band_best = workspace(names[2], n_bands * n_chan, np.float32).reshape(n_bands, n_chan)
    band_k = workspace(names[3], n_bands * n_chan, np.int32).reshape(n_bands, n_chan)
    return best, k32, band_best, band_k


def release_workspace(*names: str) -> None:
    """Free the scratch arrays held for this thread (see :func:`workspace`): those named,
    or all."""
    store = getattr(_WORKSPACE, "buffers", None)
    if not names or store is None:
        _WORKSPACE.buffers = {}
        return
    for name in names:
        store.pop(name, None)


def _max_over_drift(a: np.ndarray, grid: DriftGrid, bands, boxcar=(1, 1),
                    reuse: bool = False):
    """:func:`max_over_drift` on a float32 C-contiguous ``a``: drift indices as int32;
    ``reuse``: outputs in this thread's workspace (valid until the next reuse call)."""
    per, stride = int(boxcar[0]), int(boxcar[1])
    if per < 1 or stride < 1:
        raise ValueError(f"boxcar needs per >= 1 and stride >= 1, got {boxcar}")
    n_chan = max(0, (a.shape[1] - per) // stride + 1)
    spec = np.asarray(bands if bands else np.zeros((0, 3)), dtype=np.int64).reshape(-1, 3)
    if grid.n_tree <= 2:
        spec = spec[:0]  # no tree to fuse with: callers use separate stages
    n_bands = spec.shape[0]
    if reuse:
        best, k32, band_best, band_k = output_workspace(OUTPUT_BUFFERS, n_chan, n_bands)
        best.fill(-np.inf)
        k32.fill(0)
        band_best.fill(-np.inf)
        band_k.fill(0)
    else:
        best = np.full(n_chan, -np.inf, dtype=np.float32)
        k32 = np.zeros(n_chan, dtype=np.int32)
        band_best = np.full((n_bands, n_chan), -np.inf, dtype=np.float32)
        band_k = np.zeros((n_bands, n_chan), dtype=np.int32)
    if n_chan and grid.k_min <= grid.k_max:
        last_off = last_row_offsets(grid.n_rows, grid.n_tree)
        chunk = chunk_width(grid.n_tree, n_chan)
        n_chunks = -(-n_chan // chunk)
        kernel = (_max_over_drift_kernel if n_chunks >= PARALLEL_MIN_CHUNKS
                  else _max_over_drift_serial)
        for direction in (1, -1):
            kernel(a, grid.n_rows, grid.n_tree, grid.k_min, grid.k_max, last_off, chunk,
                   direction, best, k32, np.ascontiguousarray(spec[:, 0]),
                   np.ascontiguousarray(spec[:, 1]), np.ascontiguousarray(spec[:, 2]),
                   band_best, band_k, 4 * get_num_threads(), n_chan, per, stride)
    return best, k32, [(band_best[m], band_k[m]) for m in range(n_bands)]


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
