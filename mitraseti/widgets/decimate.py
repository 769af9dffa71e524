"""Server-side decimation of a waterfall window to screen resolution.

A browser can only show a few hundred by a few thousand pixels, while one Breakthrough Listen
coarse channel holds 2^20 fine channels. Before sending pixels to the browser we reduce the
visible window to at most the plot's size in pixels with a MAX over blocks of frequency
channels (so a signal one channel wide stays visible however far one zooms out) and a MEAN or
MAX over blocks of spectra in time.

All functions take and return ``float32`` arrays shaped ``(n_spectra, n_channels)``.
"""
from __future__ import annotations

import math

import numpy as np

TIME_REDUCTIONS = ("max", "mean")


def block_factor(n: int, target: int) -> int:
    """Smallest integer block size that brings ``n`` samples down to ``<= target`` blocks."""
    if target < 1:
        raise ValueError(f"target resolution must be >= 1 pixel, got {target}")
    return max(1, math.ceil(n / target))


def decimated_shape(shape: tuple[int, int], max_shape: tuple[int, int]) -> tuple[int, int]:
    """Shape that :func:`decimate` returns for an input ``shape`` and a pixel budget."""
    out = []
    for n, target in zip(shape, max_shape):
        f = block_factor(n, target)
        out.append(math.ceil(n / f) if n else 0)
    return tuple(out)  # type: ignore[return-value]


def _reduce_axis(data: np.ndarray, axis: int, factor: int, how: str) -> np.ndarray:
    if factor == 1:
        return data
    n = data.shape[axis]
    starts = np.arange(0, n, factor)
    if how == "max":
        # NaN marks padding (outside the band after de-drifting): ignore it, keep real maxima.
        filled = np.where(np.isnan(data), -np.inf, data) if np.isnan(data).any() else data
        out = np.maximum.reduceat(filled, starts, axis=axis)
        return np.where(np.isneginf(out), np.nan, out).astype(np.float32, copy=False)
    if how == "mean":
        valid = ~np.isnan(data)
        sums = np.add.reduceat(np.where(valid, data, 0.0), starts, axis=axis, dtype=np.float64)
        counts = np.add.reduceat(valid, starts, axis=axis, dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (sums / counts).astype(np.float32)
    raise ValueError(f"time reduction must be one of {TIME_REDUCTIONS}, got {how!r}")


def decimate(data: np.ndarray, max_shape: tuple[int, int], time_reduce: str = "max"
             ) -> np.ndarray:
    """Reduce ``data`` (n_spectra, n_channels) to at most ``max_shape`` (rows, columns).

    Frequency: block MAX over ``ceil(n_channels / columns)`` adjacent channels (a one-pixel
    signal survives). Time: block ``time_reduce`` ("max" or "mean") over
    ``ceil(n_spectra / rows)`` spectra. The last block of each axis may be shorter.
    NaN (padding) is ignored unless a whole block is NaN.
    """
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"waterfall data must be 2-D (n_spectra, n_channels), got shape "
                         f"{arr.shape}")
    if time_reduce not in TIME_REDUCTIONS:
        raise ValueError(f"time_reduce must be one of {TIME_REDUCTIONS}, got {time_reduce!r}")
    if arr.size == 0:
        return arr
    rows, cols = max_shape
    arr = _reduce_axis(arr, 1, block_factor(arr.shape[1], cols), "max")
    arr = _reduce_axis(arr, 0, block_factor(arr.shape[0], rows), time_reduce)
    return np.ascontiguousarray(arr, dtype=np.float32)


def scale_image(img: np.ndarray, mode: str = "linear", clip: tuple[float, float] = (1.0, 99.0)
                ) -> tuple[np.ndarray, float, float]:
    """Colour scaling for display: returns ``(image, low, high)`` for a linear colour map.

    mode "linear": the data range; "log": log10 of the data above its minimum (so zero and
    negative values are fine); "percentile": the data range clipped to the ``clip``
    percentiles (default 1 % to 99 %), so a few bright pixels do not wash out the noise.
    """
    img = np.asarray(img, dtype=np.float32)
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return img, 0.0, 1.0
    if mode == "log":
        lo = float(finite.min())
        span = float(finite.max()) - lo
        eps = span * 1e-4 if span > 0 else 1.0
        img = np.log10(img - lo + eps).astype(np.float32)
        finite = img[np.isfinite(img)]
        low, high = float(finite.min()), float(finite.max())
    elif mode == "percentile":
        low, high = (float(v) for v in np.percentile(finite, clip))
    elif mode == "linear":
        low, high = float(finite.min()), float(finite.max())
    else:
        raise ValueError(f"colour scale must be 'linear', 'log' or 'percentile', got {mode!r}")
    if not high > low:
        high = low + 1.0
    return img, low, high
