"""mitraseti.jit: a search runs without importing scipy.linalg (numba's BLAS probe is
skipped), and compiled code that needs BLAS or the probe's answer still works."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, sys, threading
    import numpy as np
    from mitraseti.search import SearchParams, search_coarse_channel
    from mitraseti.io.header import ObservationHeader
    from mitraseti.jit import njit
    import numba.np.arraymath

    out = {"blas_probe": numba.np.arraymath._HAVE_BLAS}
    rng = np.random.default_rng(7)
    block = rng.normal(10.0, 1.0, (16, 4096)).astype(np.float32)
    block[:, 1000] += 4.0
    header = ObservationHeader(fch1=1500.0, foff=-2.7939677238464355e-06, tsamp=18.253611008,
                               nchans=4096, n_spectra=16, tstart=60000.0)
    raw, filtered = search_coarse_channel(block, header, SearchParams(snr=8.0))
    out["hits"] = len(filtered)
    out["scipy_linalg_after_search"] = "scipy.linalg" in sys.modules

    @njit(cache=False)
    def correlate(a, v):
        return np.correlate(a, v)

    a, v = rng.normal(size=50), rng.normal(size=7)
    out["correlate_matches"] = bool(np.allclose(correlate(a, v), np.correlate(a, v)))

    @njit(cache=False)
    def dot(a, b):
        return np.dot(a, b)

    x, y = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    out["dot_matches"] = bool(np.allclose(dot(x, y), x @ y))
    out["scipy_linalg_after_dot"] = "scipy.linalg" in sys.modules

    # another thread imports scipy.linalg as usual
    import importlib
    got = []
    t = threading.Thread(target=lambda: got.append(importlib.import_module("scipy.linalg")))
    t.start(); t.join()
    out["other_thread_import"] = bool(got)
    print(json.dumps(out))
""")


def test_search_skips_numbas_blas_probe_and_blas_still_works():
    run = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["blas_probe"] is False
    assert out["hits"] >= 1
    assert out["scipy_linalg_after_search"] is False
    assert out["correlate_matches"] is True
    assert out["dot_matches"] is True
    assert out["scipy_linalg_after_dot"] is True
    assert out["other_thread_import"] is True


def test_probe_left_alone_when_scipy_linalg_is_already_imported():
    code = ("import scipy.linalg, mitraseti.jit, numba.np.arraymath as m, json; "
            "print(json.dumps(m._HAVE_BLAS))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) is True
