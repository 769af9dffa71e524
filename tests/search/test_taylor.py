"""The Taylor tree equals a brute-force sum along the same paths, exactly."""
from __future__ import annotations

import numpy as np
import pytest

from mitraseti.search import DriftGrid, dedoppler, max_over_drift, taylor_tree
from mitraseti.search.drift_grid import last_row_offsets, path_offset


def reference_offset(j: int, t: int, n: int) -> int:
    """The recursive Taylor path of drift_grid.py's docstring, written independently."""
    if n == 1:
        return 0
    half = n // 2
    if t < half:
        return reference_offset(j // 2, t, half)
    return (j + 1) // 2 + reference_offset(j // 2, t - half, half)


def brute_force(data: np.ndarray, k_max: int) -> np.ndarray:
    """Path sums for signed drift indices -k_max..k_max; NaN where a path leaves the band."""
    n_t, n_c = data.shape
    n_tree = 1 << max(0, (n_t - 1).bit_length())
    out = np.full((2 * k_max + 1, n_c), np.nan)
    for signed in range(-k_max, k_max + 1):
        k = abs(signed)
        b, j = divmod(k, n_tree - 1) if n_tree > 1 else (0, 0)
        offs = np.array([b * t + reference_offset(j, t, n_tree) for t in range(n_t)])
        if signed < 0:
            offs = -offs
        for c in range(n_c):
            cols = c + offs
            if cols.min() < 0 or cols.max() >= n_c:
                continue
            out[signed + k_max, c] = data[np.arange(n_t), cols].sum()
    return out


@pytest.mark.parametrize("n_t", [1, 2, 3, 5, 8, 13, 16])
def test_plane_equals_brute_force(n_t):
    rng = np.random.default_rng(n_t)
    # small integers: every float32 sum is exact, so equality is exact
    data = rng.integers(0, 100, size=(n_t, 37)).astype(np.float32)
    n_tree = 1 << max(0, (n_t - 1).bit_length())
    k_max = 0 if n_tree == 1 else 3 * (n_tree - 1) + 2  # three blocks: > 1 channel/spectrum
    ks, plane = dedoppler(data, k_max)
    ref = brute_force(data, k_max)
    assert list(ks) == list(range(-k_max, k_max + 1))
    np.testing.assert_array_equal(np.isnan(plane), np.isnan(ref))
    np.testing.assert_array_equal(plane[~np.isnan(plane)], ref[~np.isnan(ref)])


@pytest.mark.parametrize("n_t,k_min", [(4, 0), (7, 0), (16, 0), (16, 20), (9, 5)])
def test_max_over_drift_equals_brute_force(n_t, k_min):
    rng = np.random.default_rng(100 + n_t)
    data = rng.integers(0, 1000, size=(n_t, 300)).astype(np.float32)
    n_tree = 1 << (n_t - 1).bit_length()
    r = 1.0 / (n_tree - 1)  # df = dt = 1: one drift step = 1 / (T2 - 1) Hz/s
    grid = DriftGrid.build(n_t, 1.0, 1.0, max_drift=45 * r, min_drift=k_min * r)
    best, best_k = max_over_drift(data, grid)
    ref = brute_force(data, 45)
    ks = np.arange(-45, 46)
    ref[np.abs(ks) < k_min] = np.nan
    ref_best = np.nanmax(np.where(np.isnan(ref), -np.inf, ref), axis=0)
    np.testing.assert_array_equal(best, ref_best.astype(np.float32))
    has = np.isfinite(ref_best)
    # the reported drift reaches that maximum (ties may pick another equal drift)
    rows = best_k[has] + 45
    np.testing.assert_array_equal(ref[rows, np.nonzero(has)[0]], ref_best[has])
    assert np.all(np.abs(best_k[has]) >= k_min)


def test_band_leaving_paths_are_dropped_not_wrapped():
    data = np.zeros((8, 20), dtype=np.float32)
    data[:, 0] = 1000.0  # a bright column at the low edge
    ks, plane = dedoppler(data, 7)
    # a path from channel 19 drifting upward leaves the band: no value at all
    assert np.isnan(plane[ks == 3][0, 19])
    # wrap-around would have picked up channel 0's power at the top of the band
    finite = plane[np.isfinite(plane)]
    assert finite.max() == 8000.0  # only the zero-drift path at channel 0
    assert np.nanargmax(np.where(np.isfinite(plane), plane, -1)) == np.nonzero(ks == 0)[0][0] * 20


def test_path_shape_and_taylor_tree():
    for n in (2, 4, 8, 16, 64):
        for j in range(n):
            offs = [path_offset(j, t, n) for t in range(n)]
            assert offs[0] == 0 and offs[-1] == j
            assert all(b >= a for a, b in zip(offs, offs[1:]))
            assert offs == [reference_offset(j, t, n) for t in range(n)]
    assert list(last_row_offsets(5, 8)) == [reference_offset(j, 4, 8) for j in range(8)]
    data = np.arange(4 * 10, dtype=np.float32).reshape(4, 10)
    tree = taylor_tree(data)
    assert tree.shape == (4, 10)
    assert tree[0, 2] == data[:, 2].sum()
    assert tree[3, 2] == data[0, 2] + data[1, 3] + data[2, 4] + data[3, 5]
    assert np.isnan(tree[3, 8])


@pytest.mark.parametrize("n_t", [4, 16])
def test_fused_boxcar_bands_equal_tree_of_boxcar_data(n_t):
    from mitraseti.search import boxcar
    rng = np.random.default_rng(7)
    data = rng.integers(0, 100, size=(n_t, 500)).astype(np.float32)
    n_tree = 1 << (n_t - 1).bit_length()
    grid = DriftGrid.build(n_t, 1.0, 1.0, max_drift=80 / (n_tree - 1))
    bands = [(2, 10, 30), (3, 25, 50), (4, 45, 80), (6, 40, 60), (7, 5, 20), (13, 60, 80)]
    best, best_k, fused = max_over_drift(data, grid, bands)
    plain_best, plain_k = max_over_drift(data, grid)
    np.testing.assert_array_equal(best, plain_best)
    for (w, lo, hi), (b_best, b_k) in zip(bands, fused):
        sub = DriftGrid.build(n_t, 1.0, 1.0, max_drift=hi / (n_tree - 1),
                              min_drift=lo / (n_tree - 1))
        assert (sub.k_min, sub.k_max) == (lo, hi)
        ref_best, ref_k = max_over_drift(boxcar(data, w, 1), sub)
        n = ref_best.shape[0]
        np.testing.assert_array_equal(b_best[:n], ref_best)
        assert np.all(np.isneginf(b_best[n:]))
        assert np.all((np.abs(b_k[:n]) >= lo) & (np.abs(b_k[:n]) <= hi))


@pytest.mark.parametrize("n_t,n_c", [(16, 5000), (5, 3001)])
def test_boxcar_view_built_inside_the_kernel_equals_tree_of_the_boxcar_copy(n_t, n_c):
    """max_over_drift(level, grid, boxcar=(per, stride)) searches the view whose channel i
    is sum(level[:, i * stride + u] for u < per) without storing it."""
    from mitraseti.search import boxcar
    rng = np.random.default_rng(3)
    data = rng.integers(0, 100, size=(n_t, n_c)).astype(np.float32)
    pairs = boxcar(data, 2, 2)
    grid = DriftGrid.build(n_t, 1.0, 1.0, max_drift=40 / 15, min_drift=3 / 15)
    for width, hop, src, per, stride in ((3, 2, data, 3, 2), (5, 1, data, 5, 1),
                                         (4, 2, pairs, 2, 1), (6, 4, pairs, 3, 2)):
        ref_best, ref_k = max_over_drift(boxcar(data, width, hop), grid)
        best, k = max_over_drift(src, grid, boxcar=(per, stride))
        np.testing.assert_array_equal(best, ref_best)
        np.testing.assert_array_equal(k, ref_k)
