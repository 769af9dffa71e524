"""Picture primitives: PNG encoding, resampling, colour mapping, lines, markers, text."""
from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import Normalize
from matplotlib.image import imread
from PIL import Image

from mitraseti.export import raster


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1), (33, 17), (64, 200)])
def test_encode_png_round_trips(shape):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    rgb[1::2] = rgb[::2][: rgb[1::2].shape[0]]               # repeated rows, as enlarged
    data = raster.encode_png(rgb, {"Title": "t", "source": "Ångström 天"})
    decoded = np.rint(imread(io.BytesIO(data))[..., :3] * 255).astype(np.uint8)
    assert (decoded == rgb).all()
    with Image.open(io.BytesIO(data)) as im:
        assert im.text["Title"] == "t" and im.text["source"] == "Ångström 天"


def test_save_png_is_atomic_and_readable(tmp_path):
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    path = raster.save_png(rgb, tmp_path / "sub" / "a.png", {"k": "v"})
    assert [p.name for p in path.parent.iterdir()] == ["a.png"]
    assert imread(path).shape[:2] == (4, 6)


def test_to_rgb_is_the_colormap_of_normalised_values():
    rng = np.random.default_rng(1)
    img = rng.normal(size=(9, 11)).astype(np.float32)
    img[2, 3] = np.nan
    expected = matplotlib.colormaps["viridis"](Normalize(-1.0, 1.5)(img), bytes=True)[..., :3]
    got = raster.to_rgb(img, "viridis", -1.0, 1.5)
    finite = np.isfinite(img)
    assert (got[finite] == expected[finite]).all()
    assert tuple(got[2, 3]) == raster.MISSING_RGB
    assert tuple(raster.to_rgb(np.array([[9.0]]), "gray", 0, 1)[0, 0]) == (255, 255, 255)


def test_colour_limits_are_percentiles_of_finite_pixels():
    img = np.arange(1000, dtype=np.float32).reshape(10, 100)
    img[0, :5] = np.nan
    lo, hi = raster.colour_limits(img)
    finite = img[np.isfinite(img)]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(finite, [5, 99.9])))
    assert raster.colour_limits(np.full((2, 2), np.nan)) == (0.0, 1.0)


def test_shrink_columns_keeps_a_one_column_spike():
    img = np.zeros((3, 1000), dtype=np.float32)
    img[:, 777] = 5.0
    img[0, 10] = np.nan
    out = raster.shrink_columns(img, 100)
    assert out.shape == (3, 100) and out[:, 77].tolist() == [5.0, 5.0, 5.0]
    assert np.isfinite(out).all() and out.sum() == 15.0
    assert raster.shrink_columns(img, 2000) is img


def test_upsample_nearest():
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert (raster.upsample(a, 4, 6) == np.kron(a, np.ones((2, 2), dtype=np.uint8))).all()
    out = raster.upsample(a, 3, 5)                    # uneven: each output pixel's centre
    assert out.tolist() == [[0, 0, 1, 2, 2], [3, 3, 4, 5, 5], [3, 3, 4, 5, 5]]


def test_draw_line_solid_dashed_and_blended():
    canvas = np.zeros((20, 30, 3), dtype=np.uint8)
    raster.draw_line(canvas, (2.5, 10.5), (27.5, 10.5), (255, 0, 0))
    assert (canvas[10, 2:28, 0] == 255).all() and canvas[:, :, 0].sum() == 26 * 255
    canvas[:] = 0
    raster.draw_line(canvas, (5.5, 0.0), (5.5, 19.9), (0, 255, 0), width=2, dash=(3, 2))
    on = canvas[:, :, 1] > 0
    assert set(np.nonzero(on)[1]) == {5, 6}
    assert on[:, 5].tolist() == [(k % 5) < 3 for k in range(20)]
    canvas[:] = 100
    raster.draw_line(canvas, (0, 0), (29.9, 19.9), (200, 200, 200), alpha=0.5)
    assert set(np.unique(canvas)) == {100, 150}
    raster.draw_line(canvas, (-50, -50), (-10, -5), (0, 0, 0))        # off the canvas
    assert set(np.unique(canvas)) == {100, 150}


def test_triangle_and_text_are_drawn_where_asked():
    canvas = np.full((40, 200, 3), 255, dtype=np.uint8)
    raster.triangle(canvas, 20, 20, 11, (255, 0, 0))
    ys, xs = np.nonzero(canvas[:, :, 1] == 0)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (15, 25, 15, 25)
    assert (canvas[25, 15:26, 1] == 0).all() and (canvas[15, 15:26, 1] == 0).sum() <= 1
    canvas[:] = 255
    raster.text(canvas, (100, 20), "MHz", 16, "mm")
    ys, xs = np.nonzero(canvas[:, :, 0] < 128)
    assert abs((xs.min() + xs.max()) / 2 - 100) <= 2 and abs((ys.min() + ys.max()) / 2 - 20) <= 3
    assert xs.max() - xs.min() + 1 <= raster.text_width("MHz", 16)
    up = np.full((200, 40, 3), 255, dtype=np.uint8)
    raster.text(up, (20, 100), "MHz", 16, rotated=True)
    ys, xs = np.nonzero(up[:, :, 0] < 128)
    assert ys.max() - ys.min() > xs.max() - xs.min()            # reads upwards
