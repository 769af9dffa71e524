"""numba kernel that sums the leaf values of many trees for many rows (see compact_model).

Kept apart so that importing :mod:`mitraseti.signals.compact_model` (and loading the
classifier) does not import numba; only predictions on large batches use this module.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit


@njit(cache=True, nogil=True)
def sum_trees(xt, feature, threshold, missing_left, left, right, value, is_leaf, roots,
              column, baseline):
    """(n_columns, n) sums for features ``xt`` (n_features, n): baseline[column] plus, tree
    by tree in order, the value of the leaf each row reaches: left when
    ``x <= threshold``, NaN left when ``missing_left``. Trees outer, rows inner, so one
    tree's nodes stay in cache. Indices must be validated (no bounds checks here)."""
    n = xt.shape[1]
    out = np.empty((baseline.shape[0], n))
    for c in range(baseline.shape[0]):
        out[c, :] = baseline[c]
    for t in range(roots.shape[0]):
        root, col = roots[t], column[t]
        for i in range(n):
            node = root
            while not is_leaf[node]:
                v = xt[feature[node], i]
                if np.isnan(v):
                    node = left[node] if missing_left[node] else right[node]
                elif v <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            out[col, i] += value[node]
    return out
