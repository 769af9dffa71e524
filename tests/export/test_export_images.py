"""The exported pictures: they decode, have the expected size, show the data through the
stated colormap and limits, keep the frequency and time directions, and draw each stamp's
drift line on the hit's path."""
from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import Normalize
from matplotlib.image import imread
from PIL import Image

from mitraseti.export import images, write_all

# The colour limits the pictures promise: the 5th and 99.9th percentile of the pixels shown.
PERCENTILES = [5.0, 99.9]


def _rgb(path) -> np.ndarray:
    """uint8 (rows, cols, 3) of a PNG, decoded by matplotlib."""
    img = imread(path)
    assert img.dtype == np.float32 and img.ndim == 3
    return np.rint(img[..., :3] * 255).astype(np.uint8)


def _expected_rgb(values: np.ndarray, cmap: str) -> np.ndarray:
    finite = values[np.isfinite(values)]
    lo, hi = np.percentile(finite, PERCENTILES)
    rgb = matplotlib.colormaps[cmap](Normalize(lo, hi)(values), bytes=True)[..., :3]
    rgb[~np.isfinite(values)] = 255
    return rgb


def _n_colours(rgb: np.ndarray) -> int:
    return len(np.unique(rgb.reshape(-1, 3), axis=0))


def _box(text_value: str) -> tuple[int, int, int, int]:
    return tuple(int(v) for v in text_value.split(","))


@pytest.fixture
def written(result, tmp_path):
    return result, write_all(result, tmp_path / "out")


@pytest.fixture
def bare(result):
    """(the same observation with its hits removed, so the pictures show only the data;
    the removed hits, which follow the generated signals)."""
    return dataclasses.replace(result, filtered_hits=[], raw_hits=[], stamps={}), \
        list(result.filtered_hits)


def test_pngs_decode_with_sizes_and_are_not_blank(written):
    result, outputs = written
    wf, thumb = _rgb(outputs["waterfall"]), _rgb(outputs["waterfall_thumb"])
    assert wf.shape == (900, 1800, 3) and thumb.shape == (160, 320, 3)
    assert _n_colours(wf) > 200 and _n_colours(thumb) > 50
    for key in ("stamp_00", "stamp_01"):
        rgb = _rgb(outputs[key])
        assert rgb.shape[1] > rgb.shape[0] > 100 and _n_colours(rgb) > 200


def test_thumbnail_is_the_waterfall_in_gray_oriented(bare, tmp_path):
    """Frequency increases to the right and time upwards: each signal is brightest where
    its path is in the first and in the last spectrum."""
    no_hits, signals = bare
    rgb = _rgb(images.write_thumbnail(no_hits, tmp_path / "thumb.png"))
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    gray = rgb[..., 0].astype(int)
    wf = no_hits.waterfall
    (f_lo, f_hi), (t0, t1) = wf.ascending()[1], wf.time_extent_s
    dt = no_hits.header.dt_s
    for hit in signals:
        for t in (t0 + 0.5 * dt, t1 - 0.5 * dt):      # first and last spectrum
            f = (hit.frequency_hz + hit.drift_rate * (t - t0 - 0.5 * dt)) / 1e6
            x = (f - f_lo) / (f_hi - f_lo) * gray.shape[1]
            y = int((t1 - t) / (t1 - t0) * gray.shape[0])
            start = int(x) - 6
            window = gray[y, start:start + 13]
            assert abs(start + int(np.argmax(window)) + 0.5 - x) <= 1.5
            assert window.max() > np.percentile(gray, 95)
    # the brightest data are white, the noise is shown in grays below them
    assert gray.max() == 255 and 0 < np.median(gray) < 200


def test_waterfall_panel_colours_and_frame(bare, tmp_path):
    no_hits, _ = bare
    rgb = _rgb(images.write_waterfall(no_hits, tmp_path / "wf.png"))
    left, top, right, bottom = images.PLOT_BOX
    panel = rgb[top:bottom, left:right]
    assert (panel[..., 0] == panel[..., 2]).all()          # gray colormap
    assert (rgb[top - 1, left:right] == 0).all() and (rgb[bottom, left:right] == 0).all()
    # the brightest pixel of the data is drawn in the colormap's top colour (white)
    img, _ = no_hits.waterfall.ascending()
    col = np.nanargmax(np.nanmax(img, axis=0))
    x = left + int((col + 0.5) / img.shape[1] * (right - left))
    assert panel[:, x - left - 1:x - left + 2].max() == 255


def test_stamp_panels_map_the_data_through_viridis(written):
    result, outputs = written
    for rank, hit in enumerate(result.top_candidates):
        stamp = result.stamp_for(hit)
        with Image.open(outputs[f"stamp_{rank:02d}"]) as im:
            meta = im.text
        rgb = _rgb(outputs[f"stamp_{rank:02d}"])
        # de-drifted panel: every data cell, sampled at its centre, has the colour given by
        # Normalize(percentile limits) and viridis; NaN (outside the band) is white
        x0, y0, x1, y1 = _box(meta["dedrifted_panel_px"])
        dd = stamp.dedrifted
        expected = _expected_rgb(dd, "viridis")[::-1]       # first spectrum at the bottom
        ys = y0 + ((np.arange(dd.shape[0]) + 0.5) * (y1 - y0) / dd.shape[0]).astype(int)
        xs = x0 + ((np.arange(dd.shape[1]) + 0.5) * (x1 - x0) / dd.shape[1]).astype(int)
        assert (rgb[np.ix_(ys, xs)] == expected).all()
        top = matplotlib.colormaps["viridis"](1.0, bytes=True)[:3]
        t, c = np.unravel_index(np.nanargmax(dd), dd.shape)
        assert tuple(rgb[ys[dd.shape[0] - 1 - t], xs[c]]) == tuple(top)
        # raw panel: frequency increases to the right (file order reversed when foff < 0)
        x0, y0, x1, y1 = _box(meta["raw_panel_px"])
        raw = stamp.raw if result.header.foff > 0 else stamp.raw[:, ::-1]
        expected = _expected_rgb(raw, "viridis")[::-1]
        ys = y0 + ((np.arange(raw.shape[0]) + 0.5) * (y1 - y0) / raw.shape[0]).astype(int)
        xs = x0 + ((np.arange(raw.shape[1]) + 0.5) * (x1 - x0) / raw.shape[1]).astype(int)
        match = (rgb[np.ix_(ys, xs)] == expected).all(axis=-1)
        assert match.mean() > 0.97                          # all but the dotted drift line


def test_stamp_drift_line_lies_on_the_hit_path(written):
    result, outputs = written
    for rank, hit in enumerate(result.top_candidates):
        stamp = result.stamp_for(hit)
        with Image.open(outputs[f"stamp_{rank:02d}"]) as im:
            x0, y0, x1, y1 = _box(im.text["raw_panel_px"])
        panel = _rgb(outputs[f"stamp_{rank:02d}"])[y0:y1, x0:x1]
        n_t, cols = stamp.raw.shape
        edges = np.array(stamp.raw_freq_edges_mhz) * 1e6 - hit.frequency_hz
        lo, hi = edges.min(), edges.max()
        ys, xs = np.nonzero((panel == 255).all(axis=-1))    # viridis has no white
        assert len(ys) >= (y1 - y0) // 4                    # a dotted line, top to bottom
        assert ys.min() < (y1 - y0) * 0.1 and ys.max() > (y1 - y0) * 0.9
        # time of each pixel row (its centre), and where the path is then
        t = (n_t - (ys + 0.5) / (y1 - y0) * n_t) * stamp.dt_s
        t = np.clip(t, 0.5 * stamp.dt_s, (n_t - 0.5) * stamp.dt_s)
        f = hit.drift_rate * (t - 0.5 * stamp.dt_s)
        x_path = (f - lo) / (hi - lo) * (x1 - x0)
        slope = abs(hit.drift_rate * stamp.dt_s / (hi - lo) * (x1 - x0) * n_t / (y1 - y0))
        assert np.abs(xs + 0.5 - x_path).max() <= 1.0 + slope   # pixels per pixel row


def test_stamp_text_chunks_carry_the_hit(written):
    result, outputs = written
    for rank, hit in enumerate(result.top_candidates):
        with Image.open(outputs[f"stamp_{rank:02d}"]) as im:
            meta = im.text
        assert float(meta["frequency_hz"]) == hit.frequency_hz
        assert float(meta["drift_rate_hz_s"]) == hit.drift_rate
        assert float(meta["snr"]) == hit.snr and meta["classification"] == hit.classification
        assert int(meta["rank"]) == rank and f"{hit.frequency_hz / 1e6:.6f}" in meta["Title"]


def test_waterfall_without_data_still_writes_pictures(result, tmp_path):
    empty = dataclasses.replace(result, waterfall=None)
    assert _rgb(images.write_waterfall(empty, tmp_path / "w.png")).shape == (900, 1800, 3)
    assert _rgb(images.write_thumbnail(empty, tmp_path / "t.png")).shape == (160, 320, 3)
