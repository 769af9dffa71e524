"""Pixel-level picture making: arrays through a colormap straight to PNG, without figures.

Colours come from matplotlib's colormaps, applied as ``matplotlib.colors.Normalize`` + the
colormap's ``__call__`` do, so a pixel has exactly the colour ``imshow`` would give it
(``colormaps``: the tables are cached, matplotlib is not imported on every run); resampling is
nearest-neighbour (or MAX when columns are merged, so a one-channel signal stays visible);
lines, markers, boxes and text are blended into the RGB array (text is rendered once per
string by Pillow, which matplotlib itself depends on, in matplotlib's DejaVu Sans). PNGs are
encoded here (every row "Up"-filtered, zlib level 1): enlarged pictures repeat rows, which
that filter turns into zeros, so encoding costs a few ms where Pillow's adaptive filtering
costs several times more. No figure machinery is needed.
"""
from __future__ import annotations

import functools
import struct
import zlib
from pathlib import Path

import numpy as np

from mitraseti.atomic import atomic_path
from mitraseti.export import colormaps

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZLIB_LEVEL = 1
PERCENTILES = (5.0, 99.9)          # colour limits: these percentiles of the finite pixels
MISSING_RGB = (255, 255, 255)      # NaN pixels (no data), as the old axes background
WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def colour_limits(img: np.ndarray) -> tuple[float, float]:
    """(vmin, vmax): the PERCENTILES of the finite pixels of ``img`` ((0, 1) when none)."""
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, PERCENTILES)
    return float(lo), float(max(hi, lo + 1e-6))


def to_rgb(img: np.ndarray, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    """uint8 (rows, cols, 3): ``img`` through ``Normalize(vmin, vmax)`` and colormap ``cmap``
    (values outside the limits get the end colours; NaN gets MISSING_RGB)."""
    rgba = colormaps.apply(img, cmap, vmin, vmax)
    rgb = np.ascontiguousarray(rgba[..., :3])
    rgb[~np.isfinite(img)] = MISSING_RGB
    return rgb


def nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each of ``n_out`` output pixels (sampled at pixel centres)."""
    return ((2 * np.arange(n_out) + 1) * n_in) // (2 * n_out)


def shrink_columns(img: np.ndarray, n_out: int) -> np.ndarray:
    """``img`` with at most ``n_out`` columns: the MAX (NaN ignored) over each run of
    adjacent columns merged into one output column; unchanged when already narrow."""
    n_in = img.shape[1]
    if n_in <= n_out:
        return img
    starts = (np.arange(n_out) * n_in) // n_out
    return np.fmax.reduceat(img, starts, axis=1)


def upsample(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an image array to (height, width) (whole multiples of
    the array's shape are repeats, the fast path)."""
    rows, cols = rgb.shape[:2]
    if height % rows == 0:
        rgb = np.repeat(rgb, height // rows, axis=0)
    else:
        rgb = rgb[nearest_index(rows, height)]
    if width % cols == 0:
        return np.repeat(rgb, width // cols, axis=1)
    return rgb[:, nearest_index(cols, width)]


def data_to_pixels(x, y, shape: tuple[int, int], size: tuple[int, int]):
    """Pixel coordinates of data coordinates (x: columns from the left edge, y: rows from
    the bottom edge, both in data pixels) in a panel of ``size`` = (height, width) showing
    a ``shape`` = (rows, cols) array with row 0 at the bottom."""
    rows, cols = shape
    height, width = size
    px = np.asarray(x, dtype=float) * width / cols
    py = (rows - np.asarray(y, dtype=float)) * height / rows
    return px, py


def line_pixels(p0, p1, width: int = 1, dash: tuple[int, int] | None = None):
    """(ys, xs) integer pixels of the segment p0 -> p1 ((x, y) in pixels, y down), ``width``
    pixels thick across its main direction; ``dash`` = (on, off) lengths in pixels."""
    (x0, y0), (x1, y1) = p0, p1
    n = int(np.ceil(max(abs(x1 - x0), abs(y1 - y0)))) + 1
    t = np.linspace(0.0, 1.0, n)
    xs, ys = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
    if dash is not None:
        on, off = dash
        keep = (t * np.hypot(x1 - x0, y1 - y0)) % (on + off) < on
        xs, ys = xs[keep], ys[keep]
    xs, ys = np.floor(xs).astype(int), np.floor(ys).astype(int)
    steep = abs(y1 - y0) >= abs(x1 - x0)
    offsets = np.arange(width) - (width - 1) // 2
    if steep:
        xs = (xs[:, None] + offsets).ravel()
        ys = np.repeat(ys, width)
    else:
        ys = (ys[:, None] + offsets).ravel()
        xs = np.repeat(xs, width)
    return ys, xs


def draw_line(rgb: np.ndarray, p0, p1, colour, width: int = 1,
              dash: tuple[int, int] | None = None, alpha: float = 1.0) -> None:
    """Blend a straight line into ``rgb`` (uint8, rows x cols x 3) in place, clipped to it."""
    ys, xs = line_pixels(p0, p1, width, dash)
    inside = (ys >= 0) & (ys < rgb.shape[0]) & (xs >= 0) & (xs < rgb.shape[1])
    flat = np.unique(ys[inside] * rgb.shape[1] + xs[inside])
    ys, xs = np.divmod(flat, rgb.shape[1])
    old = rgb[ys, xs].astype(np.float32)
    new = (1.0 - alpha) * old + alpha * np.asarray(colour, dtype=np.float32)
    rgb[ys, xs] = np.rint(new).astype(np.uint8)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b)."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


@functools.lru_cache(maxsize=16)
def font(size_px: int, bold: bool = False):
    """matplotlib's DejaVu Sans at ``size_px`` pixels (Pillow's default font if missing)."""
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(str(colormaps.data_path() / "fonts" / "ttf" / name),
                                  size_px)
    except (OSError, ImportError):
        return ImageFont.load_default()


@functools.lru_cache(maxsize=512)
def _text_mask(s: str, size_px: int, anchor: str, bold: bool, rotated: bool):
    """(float32 coverage mask 0..1 of ``s``, its (dx, dy) offset from the anchor point):
    rendered once per string, so labels repeated on every picture cost one blend."""
    from PIL import Image, ImageDraw

    if rotated:       # reading upwards, centred on the anchor point
        flat, _ = _text_mask(s, size_px, "mm", bold, False)
        mask = np.ascontiguousarray(np.rot90(flat))
        return mask, (-(mask.shape[1] // 2), -(mask.shape[0] // 2))
    f = font(size_px, bold)
    left, top, right, bottom = f.getbbox(s, anchor=anchor)
    img = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(img).text((-left, -top), s, fill=255, font=f, anchor=anchor)
    return np.asarray(img, dtype=np.float32) / 255.0, (left, top)


def blend(canvas: np.ndarray, x: int, y: int, alpha: np.ndarray | float, colour,
          shape: tuple[int, int] | None = None) -> None:
    """Blend ``colour`` into ``canvas`` over the box of ``shape`` (or of the ``alpha``
    array) whose top-left pixel is (x, y), with coverage ``alpha``; clipped to the canvas."""
    h, w = np.shape(alpha) if shape is None else shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    if np.ndim(alpha):
        alpha = alpha[y0 - y:y1 - y, x0 - x:x1 - x, None]
    box = canvas[y0:y1, x0:x1]
    box[...] = np.rint(box * (1.0 - alpha) + np.asarray(colour, dtype=np.float32) * alpha)


def text(canvas: np.ndarray, xy, s: str, size_px: int, anchor: str = "la", fill=BLACK,
         bold: bool = False, rotated: bool = False) -> None:
    """Draw ``s`` into ``canvas`` at ``xy`` with Pillow's ``anchor`` ('la' left/ascender,
    'mm' centre, 'rm' right/middle, 'mt' middle/top, ...); ``rotated``: reading upwards,
    centred on ``xy``."""
    mask, (dx, dy) = _text_mask(s, size_px, anchor, bold, rotated)
    blend(canvas, int(round(xy[0])) + dx, int(round(xy[1])) + dy, mask, fill)


def text_width(s: str, size_px: int, bold: bool = False) -> int:
    """Width of ``s`` in pixels."""
    return int(np.ceil(font(size_px, bold).getlength(s)))


def fill_rect(canvas: np.ndarray, box, colour, alpha: float = 1.0) -> None:
    """Fill the pixels x0 <= x < x1, y0 <= y < y1 of ``box`` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    blend(canvas, x0, y0, alpha, colour, (y1 - y0, x1 - x0))


def frame(canvas: np.ndarray, box, colour, width: int = 1) -> None:
    """Outline ``width`` px thick just inside ``box`` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    for edge in ((x0, y0, x1, y0 + width), (x0, y1 - width, x1, y1),
                 (x0, y0, x0 + width, y1), (x1 - width, y0, x1, y1)):
        fill_rect(canvas, edge, colour)


def triangle(canvas: np.ndarray, x: float, y: float, size_px: int, colour) -> None:
    """Filled upward triangle marker, ``size_px`` wide and high, centred on the pixel that
    holds (x, y)."""
    n = int(size_px)
    rows = (np.arange(n) + 0.5) / n                       # 0 at the apex, 1 at the base
    cols = np.abs(np.arange(n) + 0.5 - n / 2.0) / (n / 2.0)
    inside = (cols[None, :] <= rows[:, None]).astype(np.float32)
    blend(canvas, int(np.floor(x)) - n // 2, int(np.floor(y)) - n // 2, inside, colour)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _text_chunk(key: str, value: str) -> bytes:
    """tEXt chunk (Latin-1), or iTXt (UTF-8) when the text is not Latin-1."""
    k = key.encode("latin-1")[:79]
    try:
        return _chunk(b"tEXt", k + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return _chunk(b"iTXt", k + b"\0\0\0\0\0" + value.encode("utf-8"))


def encode_png(rgb: np.ndarray, metadata: dict[str, str] | None = None) -> bytes:
    """PNG bytes of a uint8 (rows, cols, 3) array, 8-bit RGB, with ``metadata`` as text
    chunks (keys of at most 79 Latin-1 characters)."""
    height, width, _ = rgb.shape
    flat = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(height, width * 3)
    rows = np.empty((height, width * 3 + 1), dtype=np.uint8)
    rows[:, 0] = 2                                   # filter type Up: minus the row above
    rows[0, 0] = 0                                   # first row: no filter
    rows[0, 1:] = flat[0]
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    text = b"".join(_text_chunk(k, str(v)) for k, v in (metadata or {}).items())
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + text
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), ZLIB_LEVEL)) + _chunk(b"IEND", b""))


def save_png(rgb: np.ndarray, path: str | Path, metadata: dict[str, str] | None = None
             ) -> Path:
    """Write a uint8 RGB array as PNG atomically, with ``metadata`` as text chunks."""
    data = encode_png(rgb, metadata)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
