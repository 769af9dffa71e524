"""The fitted classifier as plain arrays: loads with numpy alone, no pickle, no code.

Why: loading the scikit-learn object through skops costs seconds per process (skops' type
checks import much of scikit-learn and scipy). The fitted model is only trees and a few
numbers, so it is stored as flat arrays in an ``.npz`` read with
``np.load(allow_pickle=False)``: no code runs on load, and nothing imports scikit-learn,
scipy or skops.

What is stored (from a fitted sigmoid ``CalibratedClassifierCV`` around a
``HistGradientBoostingClassifier``; one "fold" per entry of ``calibrated_classifiers_``,
a single one for ``ensemble=False``):

* nodes of every tree, concatenated: ``node_feature`` (int32), ``node_threshold`` (the raw,
  un-binned float64 threshold the predictor compares with: go left when
  ``x <= threshold``), ``node_missing_left`` (NaN goes left), ``node_left`` /
  ``node_right`` (absolute node indices), ``node_value`` (leaf value, learning rate already
  applied), ``node_is_leaf``. Categorical splits are refused by :func:`from_calibrated`.
* per tree, in (fold, boosting iteration, class) order: ``tree_root``, ``tree_fold``,
  ``tree_class`` (column of the fold's raw scores it adds to).
* per fold and estimator class column: ``fold_baseline`` (initial raw score),
  ``fold_sigmoid_a`` / ``fold_sigmoid_b`` and ``fold_class_index`` (output column).
* ``classes``: output column names (the calibrated model's ``classes_``).

Prediction repeats scikit-learn's arithmetic (checked against its source, version 1.9):
raw score = baseline + the leaf values of the trees, summed in iteration order; per class,
p = 1 / (1 + exp(a * raw + b)) (``_SigmoidCalibration``: ``expit(-(a T + b))``); the row
is divided by its sum (uniform when the sum is 0); values in (1, 1 + 1e-5] become 1; the
folds are averaged. Probabilities agree with ``predict_proba`` to about 1e-15.

Tree walking, measured on the shipped model (900 trees of at most 15 leaves) for 10,000
rows on a 2-core machine: scikit-learn (one thread) 0.25 s; the numba kernel of
:mod:`.tree_kernel` 0.27 s; a numpy walk of all (tree, row) pairs one level per step 1.1 s,
but 4 ms for 24 rows. numba's own start-up costs about 0.3 s per process, so the numpy
walk serves small batches and loading (the reference check), the numba kernel batches of
``NUMBA_MIN_ROWS`` rows and more (in the pipeline numba has already started for the
search).
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_path

FORMAT = "mitraseti-trees/1"
# Batches from this many rows on go to the numba kernel: below it numba's start-up in a
# fresh process (about 0.4 s; already paid when the search ran) outweighs its speed.
NUMBA_MIN_ROWS = 2000
_NUMPY_CHUNK = 256  # rows per numpy walk (x 900 trees in flight)
# key: (dtype, number of dimensions)
_NODE_KEYS = {"node_feature": (np.int32, 1), "node_threshold": (np.float64, 1),
              "node_missing_left": (np.uint8, 1), "node_left": (np.int32, 1),
              "node_right": (np.int32, 1), "node_value": (np.float64, 1),
              "node_is_leaf": (np.uint8, 1)}
_TREE_KEYS = {"tree_root": (np.int32, 1), "tree_fold": (np.int32, 1),
              "tree_class": (np.int32, 1)}
_FOLD_KEYS = {"fold_baseline": (np.float64, 2), "fold_sigmoid_a": (np.float64, 2),
              "fold_sigmoid_b": (np.float64, 2), "fold_class_index": (np.int32, 2)}
_ARRAY_KEYS = {**_NODE_KEYS, **_TREE_KEYS, **_FOLD_KEYS}


@dataclass
class CompactModel:
    """Trees, calibration and class names of a fitted classifier (see the module doc)."""
    arrays: dict
    classes: list
    n_features: int
    mitraseti_meta: dict = field(default_factory=dict)

    @property
    def n_folds(self) -> int:
        return int(self.arrays["fold_baseline"].shape[0])

    def raw_scores(self, x: np.ndarray, engine: str = "auto") -> np.ndarray:
        """Per fold, the boosted raw scores (n_folds, n, n_estimator_classes).

        engine: "numpy", "numba" or "auto" (numba from ``NUMBA_MIN_ROWS`` rows on); both
        give bit-identical sums, in scikit-learn's order."""
        a = self.arrays
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x must be (n, {self.n_features}), got {x.shape}")
        n_folds, n_cls = a["fold_baseline"].shape
        column = (a["tree_fold"] * n_cls + a["tree_class"]).astype(np.int32)
        baseline = a["fold_baseline"].ravel()
        if engine == "numba" or (engine == "auto" and len(x) >= NUMBA_MIN_ROWS):
            from .tree_kernel import sum_trees
            raw = sum_trees(np.ascontiguousarray(x.T), a["node_feature"],
                            a["node_threshold"], a["node_missing_left"], a["node_left"],
                            a["node_right"], a["node_value"], a["node_is_leaf"],
                            a["tree_root"], column, baseline)
        elif engine in ("numpy", "auto"):
            raw = np.repeat(baseline[:, None], len(x), axis=1)
            leaf_values = self._walk_numpy(x)
            for t, col in enumerate(column):   # in tree order, as scikit-learn adds them
                raw[col] += leaf_values[t]
        else:
            raise ValueError(f"engine must be 'auto', 'numpy' or 'numba', not {engine!r}")
        return raw.reshape(n_folds, n_cls, len(x)).transpose(0, 2, 1)

    def _walk_numpy(self, x: np.ndarray) -> np.ndarray:
        """Leaf value reached by each row in each tree (n_trees, n), all trees at once,
        one level per step; a (tree, row) pair leaves the walk at its leaf."""
        leaf, child, feature, threshold, nan_right, roots, value = self._walk_tables()
        out = np.empty((len(roots), len(x)))
        for start in range(0, len(x), _NUMPY_CHUNK):
            xc = x[start:start + _NUMPY_CHUNK]
            flat, m, has_nan = xc.ravel(), len(xc), bool(np.isnan(xc).any())
            reached = np.repeat(roots, m)                # pair p: tree p // m, row p % m
            pair = np.nonzero(~leaf[reached])[0]        # pairs still walking
            node = reached[pair]
            base = (pair % m) * xc.shape[1]
            while node.size:
                v = flat[base + feature[node]]
                right = ~(v <= threshold[node])
                if has_nan:
                    right = np.where(np.isnan(v), nan_right[node], right)
                node = child[2 * node + right]
                done = leaf[node]
                reached[pair[done]] = node[done]
                keep = ~done
                node, base, pair = node[keep], base[keep], pair[keep]
            out[:, start:start + m] = value[reached].reshape(len(roots), m)
        return out

    def _walk_tables(self):
        """Arrays of the numpy walk, built once: children interleaved
        ([2 node] left, [2 node + 1] right; a leaf points to itself), int64 indices."""
        if not hasattr(self, "_tables"):
            a = self.arrays
            leaf = a["node_is_leaf"].astype(bool)
            own = np.arange(len(leaf))
            child = np.empty(2 * len(leaf), np.int64)
            child[0::2] = np.where(leaf, own, a["node_left"])
            child[1::2] = np.where(leaf, own, a["node_right"])
            self._tables = (leaf, child, a["node_feature"].astype(np.int64),
                            a["node_threshold"], a["node_missing_left"] == 0,
                            a["tree_root"].astype(np.int64), a["node_value"])
        return self._tables

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (n, len(classes)), columns in ``classes`` order."""
        a = self.arrays
        raw = self.raw_scores(x)
        n, n_out = raw.shape[1], len(self.classes)
        mean = np.zeros((n, n_out))
        for f in range(self.n_folds):
            p = np.zeros((n, n_out))
            z = a["fold_sigmoid_a"][f] * raw[f] + a["fold_sigmoid_b"][f]
            p[:, a["fold_class_index"][f]] = 1.0 / (1.0 + np.exp(z))
            total = p.sum(axis=1)[:, None]
            p = np.divide(p, total, out=np.full_like(p, 1.0 / n_out), where=total != 0)
            p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0
            mean += p
        return mean / self.n_folds


# ------------------------------------------------------------------ conversion -----
def from_calibrated(clf) -> CompactModel:
    """Arrays of a fitted sigmoid ``CalibratedClassifierCV`` around a
    ``HistGradientBoostingClassifier`` (multi-class, numeric features only)."""
    if getattr(clf, "method", None) != "sigmoid":
        raise ValueError(f"only sigmoid calibration is supported, got {clf.method!r}")
    classes = [str(c) for c in clf.classes_]
    sorted_classes = np.unique(np.asarray(clf.classes_))
    if len(classes) < 3 or [str(c) for c in sorted_classes] != classes:
        raise ValueError("expected 3 or more classes, in sorted order")
    parts = {k: [] for k in _ARRAY_KEYS}
    n_nodes = 0
    for fold, cal in enumerate(clf.calibrated_classifiers_):
        est = cal.estimator
        if getattr(est, "is_categorical_", None) is not None and np.any(est.is_categorical_):
            raise ValueError("categorical splits are not supported")
        if getattr(est, "_preprocessor", None) is not None:
            raise ValueError("models with a feature preprocessor are not supported")
        n_cls = int(est.n_trees_per_iteration_)
        if n_cls != len(est.classes_) or len(cal.calibrators) != n_cls:
            raise ValueError("expected one tree and one calibrator per class and iteration")
        for iteration in est._predictors:
            for k, predictor in enumerate(iteration):
                for key, arr in _tree_arrays(predictor.nodes, n_nodes).items():
                    parts[key].append(arr)
                parts["tree_root"].append([n_nodes])
                parts["tree_fold"].append([fold])
                parts["tree_class"].append([k])
                n_nodes += len(predictor.nodes)
        parts["fold_baseline"].append(np.reshape(est._baseline_prediction, n_cls))
        parts["fold_sigmoid_a"].append([float(c.a_) for c in cal.calibrators])
        parts["fold_sigmoid_b"].append([float(c.b_) for c in cal.calibrators])
        # as sklearn's _CalibratedClassifier: LabelEncoder(classes).transform(est.classes_)
        parts["fold_class_index"].append(np.searchsorted(sorted_classes, est.classes_))
    arrays = {}
    for key, (dtype, ndim) in _ARRAY_KEYS.items():
        stack = np.concatenate if ndim == 1 else np.array
        arrays[key] = np.ascontiguousarray(stack(parts[key]), dtype=dtype)
    model = CompactModel(arrays, classes, int(clf.n_features_in_))
    validate(model)
    return model


def _tree_arrays(nodes: np.ndarray, offset: int) -> dict:
    """Node arrays of one ``TreePredictor.nodes`` record array; child indices shifted by
    ``offset`` (its first node's index in the concatenation); leaves hold only a value."""
    if np.any(nodes["is_categorical"]):
        raise ValueError("categorical splits are not supported")
    leaf = nodes["is_leaf"].astype(bool)
    return {"node_feature": np.where(leaf, 0, nodes["feature_idx"]),
            "node_threshold": np.where(leaf, 0.0, nodes["num_threshold"]),
            "node_missing_left": np.where(leaf, 0, nodes["missing_go_to_left"]),
            "node_left": np.where(leaf, -1, nodes["left"].astype(np.int64) + offset),
            "node_right": np.where(leaf, -1, nodes["right"].astype(np.int64) + offset),
            "node_value": np.where(leaf, nodes["value"], 0.0),
            "node_is_leaf": leaf}


# ------------------------------------------------------------------ file -----------
def write_npz(model: CompactModel, path: Path) -> Path:
    """Write ``path`` (.npz). Byte-identical for identical models: fixed member order and
    timestamps, so a retrained model's SHA-256 changes only when the model does."""
    path = Path(path)
    members = dict(model.arrays, format=np.array(FORMAT), classes=np.array(model.classes),
                   n_features=np.array(model.n_features, dtype=np.int64))
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED,
                                                   compresslevel=9) as zf:
        for name, arr in members.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as fh:
                np.lib.format.write_array(fh, np.asarray(arr), allow_pickle=False)
    return path


def read_npz(path: Path) -> CompactModel:
    """Read and validate ``path``; raises ValueError when it is not a usable model file."""
    with np.load(path, allow_pickle=False) as z:
        names = set(z.files)
        missing = sorted((set(_ARRAY_KEYS) | {"format", "classes", "n_features"}) - names)
        if missing:
            raise ValueError(f"missing arrays {missing}")
        if str(z["format"]) != FORMAT:
            raise ValueError(f"format {str(z['format'])!r}, expected {FORMAT!r}")
        arrays = {k: z[k] for k in _ARRAY_KEYS}
        classes = [str(c) for c in z["classes"]]
        n_features = int(z["n_features"])
    for key, (dtype, ndim) in _ARRAY_KEYS.items():
        a = arrays[key]
        if a.ndim != ndim or not np.can_cast(a.dtype, dtype, casting="same_kind"):
            raise ValueError(f"{key} has dtype {a.dtype} and {a.ndim} dimension(s)")
        arrays[key] = np.ascontiguousarray(a, dtype=dtype)
    model = CompactModel(arrays, classes, n_features)
    validate(model)
    return model


def validate(model: CompactModel) -> None:
    """Shapes and indices consistent; every split's children come after it, so every walk
    ends at a leaf inside the arrays (the kernel does no bounds checks)."""
    a = model.arrays
    n_nodes = len(a["node_feature"])
    if any(len(a[k]) != n_nodes for k in _NODE_KEYS):
        raise ValueError("node arrays differ in length")
    n_trees = len(a["tree_root"])
    if n_nodes == 0 or n_trees == 0 or any(len(a[k]) != n_trees for k in _TREE_KEYS):
        raise ValueError("no trees, or tree arrays differ in length")
    n_folds, n_cls = a["fold_baseline"].shape
    if any(a[k].shape != (n_folds, n_cls) for k in _FOLD_KEYS) or n_folds == 0:
        raise ValueError("per-fold arrays differ in shape")
    split = np.nonzero(a["node_is_leaf"] == 0)[0]
    for child in (a["node_left"][split], a["node_right"][split]):
        if np.any(child <= split) or np.any(child >= n_nodes):
            raise ValueError("a split's child index is out of order or out of range")
    if np.any(a["node_feature"][split] < 0) or np.any(a["node_feature"] >= model.n_features):
        raise ValueError("a split's feature index is out of range")
    checks = ((a["tree_root"], n_nodes), (a["tree_fold"], n_folds),
              (a["tree_class"], n_cls), (a["fold_class_index"], len(model.classes)))
    if any(np.any(idx < 0) or np.any(idx >= bound) for idx, bound in checks):
        raise ValueError("a tree or class index is out of range")
    if not all(np.all(np.isfinite(a[k])) for k in ("node_value", "fold_baseline",
                                                    "fold_sigmoid_a", "fold_sigmoid_b")):
        raise ValueError("non-finite leaf values or calibration parameters")
