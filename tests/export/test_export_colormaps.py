"""Colormap tables cached on disk (mitraseti.export.colormaps) against matplotlib itself."""
from __future__ import annotations

import os
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import Normalize

from mitraseti.export import colormaps


def _values(dtype, rng):
    x = rng.normal(size=(40, 37)) * 2.0
    x[0, :6] = [-1.0, 1.5, -1.0000001, 1.5000001, np.nan, 0.0]   # limits, just outside, NaN
    if np.dtype(dtype).kind in "iu":
        x = np.nan_to_num(x * 1000)
    return x.astype(dtype)


@pytest.mark.parametrize("name", ["viridis", "gray", "magma", "RdBu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.int64])
def test_apply_gives_matplotlibs_colours_exactly(name, dtype):
    rng = np.random.default_rng([7, np.dtype(dtype).num])
    x = _values(dtype, rng)
    for vmin, vmax in [(-1.0, 1.5), (-1500.0, 900.0), (0.25, 0.25), (float(np.nanmin(x)),
                                                                      float(np.nanmax(x)))]:
        expected = matplotlib.colormaps[name](Normalize(vmin, vmax)(x), bytes=True)
        assert (colormaps.apply(x, name, vmin, vmax) == expected).all(), (vmin, vmax)


def test_apply_refuses_reversed_limits_as_matplotlib_does():
    with pytest.raises(ValueError, match="minvalue"):
        colormaps.apply(np.zeros(3), "gray", 2.0, 1.0)


def test_the_table_is_cached_and_later_runs_do_not_import_matplotlib(tmp_path):
    env = dict(os.environ, MITRASETI_CACHE_DIR=str(tmp_path))
    code = ("import sys, numpy as np; from mitraseti.export import raster; "
            "rgb = raster.to_rgb(np.linspace(0, 1, 12).reshape(3, 4), 'viridis', 0, 1); "
            "print(rgb.sum(), 'matplotlib' in sys.modules)")
    run = [sys.executable, "-c", code]
    first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    (cached,) = tmp_path.glob("colormap-viridis-*.npy")
    second = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    total, imported = second.stdout.split()
    assert (total, imported) == (first.stdout.split()[0], "False")
    assert first.stdout.split()[1] == "True"

    cached.write_bytes(b"not a table")                         # a damaged cache is redone
    third = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert third.stdout.split() == first.stdout.split()
    assert np.load(cached).shape == (matplotlib.colormaps["viridis"].N + 3, 4)


def test_fonts_come_from_matplotlibs_data_folder():
    assert colormaps.data_path() == __import__("pathlib").Path(matplotlib.get_data_path())
