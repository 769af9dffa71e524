"""numba, set up once for every MitraSETI kernel: import ``njit`` and ``prange`` from here.

Importing this module loads numba's array-math implementations (``numba.np.arraymath``)
without its BLAS probe. At import, that module checks whether BLAS is available by
importing ``scipy.linalg.cython_blas``, which imports the whole of ``scipy.linalg``: about
29 MiB of resident memory and 0.1 s in every process that runs a kernel, a tenth of the
memory of an ``analyze`` run. The probe's answer only chooses how ``np.correlate`` and
``np.convolve`` take inner products inside compiled code (BLAS ``dot`` or a plain loop);
MitraSETI's kernels call neither, nor any BLAS routine. So while that one module is
imported, ``scipy.linalg`` cannot be found by this thread (other threads import as usual)
and numba takes the plain loop. Kernels that do call ``np.dot`` or ``np.linalg`` still
work: numba imports scipy for them when they are compiled.

When ``numba.np.arraymath`` or ``scipy.linalg`` is already imported (a notebook that
imported scikit-learn first, say), nothing changes.
"""
from __future__ import annotations

import sys
import threading

from numba import njit, prange

__all__ = ["njit", "prange"]


class _HideFromThisThread:
    """A meta-path finder under which one thread cannot import ``name``."""

    def __init__(self, name: str):
        self.name = name
        self.thread = threading.get_ident()

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name and threading.get_ident() == self.thread:
            raise ImportError(f"{fullname} is not looked for while numba's array math loads")
        return None


def _load_array_math() -> None:
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    finder = _HideFromThisThread("scipy.linalg")
    sys.meta_path.insert(0, finder)
    try:
        import numba.np.arraymath  # noqa: F401  (its BLAS probe fails: plain loops)
    finally:
        sys.meta_path.remove(finder)


_load_array_math()
