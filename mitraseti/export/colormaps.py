"""matplotlib's colormaps as lookup tables, without importing matplotlib on every run.

Importing matplotlib costs ~0.15 s, and the pictures need nothing from it but a named
colormap's table (and its font files, found on disk). The first run that draws with a
colormap imports matplotlib once, takes the table (``cmap._lut`` as bytes: the ``N``
colours, then under, over and bad) and saves it in the user's cache folder, keyed by the
colormap's name and by matplotlib's installation (file size and time), so an upgraded
matplotlib is asked again. Later runs read the 1 kB table with numpy. :func:`apply` maps
values to colours exactly as ``cmap(Normalize(vmin, vmax)(values), bytes=True)`` does.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import numpy as np

from mitraseti.atomic import atomic_open

CACHE_DIR_ENV = "MITRASETI_CACHE_DIR"


def cache_dir() -> Path:
    """The per-user cache folder: $MITRASETI_CACHE_DIR, else $XDG_CACHE_HOME/mitraseti,
    else ~/.cache/mitraseti."""
    given = os.environ.get(CACHE_DIR_ENV)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mitraseti"


def matplotlib_dir() -> Path:
    """matplotlib's package folder, found without importing it."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise ImportError("matplotlib is not installed")
    return Path(spec.origin).parent


def data_path() -> Path:
    """matplotlib's data folder (fonts), as ``matplotlib.get_data_path()`` gives it."""
    return matplotlib_dir() / "mpl-data"


@functools.lru_cache(maxsize=16)
def lookup_table(name: str) -> np.ndarray:
    """uint8 (N + 3, 4): colormap ``name``'s N colours, then its under, over and bad
    colours, as matplotlib gives them with ``bytes=True``; cached on disk (module doc)."""
    init = matplotlib_dir() / "__init__.py"
    stat = init.stat()
    path = cache_dir() / f"colormap-{name}-{stat.st_size}-{stat.st_mtime_ns}.npy"
    try:
        lut = np.load(path)
        if lut.dtype == np.uint8 and lut.ndim == 2 and lut.shape[1] == 4:
            return lut
    except (OSError, ValueError):
        pass
    import matplotlib

    cmap = matplotlib.colormaps[name]
    cmap(0.0)                                   # builds the table
    lut = (cmap._lut * 255).astype(np.uint8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as f:
            np.save(f, lut)
    except OSError:
        pass                                    # no cache: matplotlib again next run
    return lut


def apply(values: np.ndarray, name: str, vmin: float, vmax: float) -> np.ndarray:
    """uint8 (..., 4) RGBA of ``values`` through ``Normalize(vmin, vmax)`` and colormap
    ``name``: the same arithmetic, dtypes and edge rules as matplotlib (values outside the
    limits get the under / over colours, NaN the bad colour)."""
    lut = lookup_table(name)
    n = lut.shape[0] - 3
    x = np.array(values, copy=True)
    if x.dtype.kind in "biu":
        x = x.astype(np.promote_types(x.dtype, np.float32))
    vmin, vmax = np.float64(vmin), np.float64(vmax)
    if vmin > vmax:
        raise ValueError("minvalue must be less than or equal to maxvalue")
    if vmin == vmax:
        x.fill(0)
    else:
        x -= vmin
        x /= vmax - vmin
    x *= n
    x[x == n] = n - 1
    under, over, bad = x < 0, x >= n, np.isnan(x)
    with np.errstate(invalid="ignore"):
        index = x.astype(int)
    index[under] = n
    index[over] = n + 1
    index[bad] = n + 2
    return lut.take(index, axis=0, mode="clip")
