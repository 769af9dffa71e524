"""A plot frame with ticks and tick labels drawn into an RGB canvas (see ``raster``).

``draw_axes`` frames a panel box (left, top, right, bottom in pixels; x grows to the right,
y upwards from the bottom edge), puts outward ticks at round values (matplotlib's rule) and,
when given a format, labels them. Axis titles are left to the caller.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from mitraseti.export import raster


STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)   # tick steps, times a power of ten


def ticks(lo: float, hi: float, n_max: int) -> np.ndarray:
    """Round tick values within [lo, hi]: the multiples of the smallest step of 1, 2, 2.5
    or 5 times a power of ten that spans the range in at most ``n_max`` intervals (the rule
    of matplotlib's ``MaxNLocator(nbins=n_max, steps=[1, 2, 2.5, 5, 10])``, kept here so
    that drawing needs no matplotlib import, ~0.15 s of every run)."""
    if not hi > lo:
        return np.array([lo], dtype=float)
    raw = (hi - lo) / n_max
    scale = 10.0 ** math.floor(math.log10(raw))
    steps = [s * scale for s in (0.1, 0.2, 0.25, 0.5, *STEPS, 20.0)]
    chosen = next(i for i, s in enumerate(steps) if s >= raw * (1 - 1e-12))
    eps = 1e-9 * (hi - lo)
    for step in steps[chosen::-1]:          # smaller steps when fewer than two ticks fit
        first, last = math.ceil((lo - eps) / step), math.floor((hi + eps) / step)
        if last - first >= 1:
            break
    return np.arange(first, last + 1) * step


def draw_axes(canvas: np.ndarray, box, x_range, y_range, *, font_px: int, line_px: int = 1,
              tick_px: int = 4, x_format: Callable[[float], str] | None = None,
              y_format: Callable[[float], str] | None = None, n_x: int = 8,
              n_y: int = 7) -> None:
    """Frame ``box`` (``line_px`` thick, just outside it), ticks every round value of
    ``x_range`` / ``y_range`` (data units at the box edges), tick labels where a format
    is given."""
    left, top, right, bottom = box
    (x_lo, x_hi), (y_lo, y_hi) = x_range, y_range
    black, gap = raster.BLACK, tick_px + line_px + 2
    raster.frame(canvas, (left - line_px, top - line_px, right + line_px, bottom + line_px),
                 black, line_px)
    if x_hi > x_lo:
        for v in ticks(x_lo, x_hi, n_x):
            x = left + (v - x_lo) / (x_hi - x_lo) * (right - left)
            raster.fill_rect(canvas, (x - line_px / 2, bottom + line_px, x + line_px / 2,
                                      bottom + line_px + tick_px), black)
            if x_format is not None:
                raster.text(canvas, (x, bottom + gap), x_format(v), font_px, "mt")
    if y_hi > y_lo:
        for v in ticks(y_lo, y_hi, n_y):
            y = bottom - (v - y_lo) / (y_hi - y_lo) * (bottom - top)
            raster.fill_rect(canvas, (left - line_px - tick_px, y - line_px / 2,
                                      left - line_px, y + line_px / 2), black)
            if y_format is not None:
                raster.text(canvas, (left - gap, y), y_format(v), font_px, "rm")
