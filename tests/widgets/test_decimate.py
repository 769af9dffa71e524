"""Max-preserving decimation and colour scaling."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mitraseti.widgets.decimate import block_factor, decimate, decimated_shape, scale_image


def reference_decimate(data, max_shape, time_reduce):
    """Slow, obviously-correct loop version used as the oracle."""
    rows, cols = max_shape
    fr = math.ceil(data.shape[0] / rows)
    fc = math.ceil(data.shape[1] / cols)
    out = np.empty((math.ceil(data.shape[0] / fr), math.ceil(data.shape[1] / fc)))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = data[i * fr:(i + 1) * fr, j * fc:(j + 1) * fc]
            colmax = block.max(axis=1)
            out[i, j] = colmax.max() if time_reduce == "max" else colmax.mean()
    return out


@settings(max_examples=40, deadline=None)
@given(n_t=st.integers(1, 40), n_c=st.integers(1, 3000), rows=st.integers(1, 50),
       cols=st.integers(1, 400), t=st.integers(0, 39), c=st.integers(0, 2999))
def test_single_hot_pixel_survives(n_t, n_c, rows, cols, t, c):
    t, c = t % n_t, c % n_c
    data = np.zeros((n_t, n_c), dtype=np.float32)
    data[t, c] = 1000.0
    img = decimate(data, (rows, cols), "max")
    assert img.shape == decimated_shape((n_t, n_c), (rows, cols))
    assert img.shape[0] <= rows and img.shape[1] <= cols
    fr, fc = block_factor(n_t, rows), block_factor(n_c, cols)
    assert img[t // fr, c // fc] == 1000.0
    assert np.count_nonzero(img) == 1


@pytest.mark.parametrize("how", ["max", "mean"])
@pytest.mark.parametrize("shape,budget", [((16, 1000), (10, 300)), ((33, 257), (8, 64)),
                                           ((5, 50), (100, 100))])
def test_matches_reference(how, shape, budget):
    data = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    got = decimate(data, budget, how)
    np.testing.assert_allclose(got, reference_decimate(data, budget, how), rtol=1e-5,
                               atol=1e-5)


def test_nan_padding_is_ignored():
    data = np.full((2, 8), np.nan, dtype=np.float32)
    data[:, :3] = [[1, 5, 2], [3, 1, 1]]
    img = decimate(data, (1, 2), "mean")
    assert img[0, 0] == pytest.approx(4.0)     # mean over time of block maxima (5, 3)
    assert np.isnan(img[0, 1])                 # an all-padding block stays NaN


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="time_reduce"):
        decimate(np.zeros((2, 2)), (1, 1), "median")
    with pytest.raises(ValueError, match="2-D"):
        decimate(np.zeros(4), (1, 1))
    with pytest.raises(ValueError, match="colour scale"):
        scale_image(np.zeros((2, 2)), "sqrt")


def test_scale_modes():
    img = np.arange(1000, dtype=np.float32).reshape(10, 100)
    _, lo, hi = scale_image(img, "percentile")
    assert (lo, hi) == pytest.approx((np.percentile(img, 1), np.percentile(img, 99)))
    _, lo, hi = scale_image(img, "linear")
    assert (lo, hi) == (0.0, 999.0)
    logged, lo, hi = scale_image(img - 500, "log")      # negative values are fine
    assert np.all(np.isfinite(logged)) and np.all(np.diff(logged.ravel()) > 0)
    assert lo < hi
    flat, lo, hi = scale_image(np.ones((3, 3)), "linear")   # constant image: usable range
    assert hi > lo
