"""The morphology classifier: train, save, load safely, predict probabilities.

Model: scikit-learn ``HistGradientBoostingClassifier`` on the features of
:mod:`mitraseti.signals.features`, wrapped in ``CalibratedClassifierCV`` (sigmoid, 3-fold
cross-validated calibration, ``ensemble=False``) so ``predict_proba`` is calibrated.

Files (``mitraseti train`` writes all three side by side):

* ``classifier.npz``: the fitted model as plain arrays (:mod:`.compact_model`). This is
  what MitraSETI loads and predicts with: numpy + one numba kernel, no pickle, no code run
  on load, no scikit-learn / scipy / skops import (loading the skops file costs seconds).
* ``classifier.skops``: the full scikit-learn object, for users who want it
  (:func:`load_sklearn`); never read at run time.
* ``classifier.json``: SHA-256 of both, library versions, feature names, and a few
  reference rows with the probabilities scikit-learn gave them.

Loading refuses: a file whose SHA-256 differs from the sidecar (tampered or truncated), an
``.npz`` whose arrays are not a consistent model, and a model whose reference predictions
do not reproduce. Every refusal raises :class:`ModelLoadError` naming the file and the one
command that rebuilds it: ``mitraseti train``.
"""
from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import ModelLoadError
from . import compact_model
from .compact_model import CompactModel
from .features import FEATURE_NAMES
from ..taxonomy import MORPHOLOGIES

RETRAIN_HINT = "run `mitraseti train` to rebuild the shipped classifier"
REFERENCE_ATOL = 1e-5  # reference probabilities are stored rounded to 6 decimals
# Every type a MitraSETI .skops file may contain (checked before load_sklearn loads it).
TRUSTED_TYPES = [
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.Interval",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.utils._bunch.Bunch",
    "numpy.dtype",
    "builtins.slice",
]


def default_model_path() -> Path:
    return Path(str(resources.files("mitraseti").joinpath("data/classifier.npz")))


def compact_path(path: Path) -> Path:
    """The ``.npz`` of a model path (any of its three files may be named)."""
    return Path(path).with_suffix(".npz")


def sidecar_path(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def sklearn_path(path: Path) -> Path:
    return Path(path).with_suffix(".skops")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_estimator(seed: int = 0, max_iter: int = 150):
    """The untrained, calibrated estimator."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold
    base = HistGradientBoostingClassifier(
        max_iter=max_iter, learning_rate=0.1, max_leaf_nodes=15, l2_regularization=0.1,
        min_samples_leaf=10, early_stopping=False, random_state=seed)
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    return CalibratedClassifierCV(base, method="sigmoid", cv=cv, ensemble=False)


def train(x: np.ndarray, y: np.ndarray, seed: int = 0, max_iter: int = 150):
    """Fit the calibrated classifier on features ``x`` and labels ``y`` (strings)."""
    unknown = set(np.unique(y)) - set(MORPHOLOGIES)
    if unknown:
        raise ValueError(f"labels {sorted(unknown)} are not morphologies {MORPHOLOGIES}")
    if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"x must be (n, {len(FEATURE_NAMES)}) features, got {x.shape}")
    from threadpoolctl import threadpool_limits
    model = make_estimator(seed, max_iter)
    with threadpool_limits(limits=1, user_api="openmp"):  # deterministic, no oversubscription
        model.fit(x, y)
    return model


def predict_proba(model, x: np.ndarray) -> np.ndarray:
    """Probabilities (n, 6) in the order of ``MORPHOLOGIES``; ``model`` is a loaded
    :class:`CompactModel` or a fitted scikit-learn classifier (features cast to float32
    first either way, as the pipeline computes them)."""
    out = np.zeros((x.shape[0], len(MORPHOLOGIES)), dtype=float)
    if x.shape[0] == 0:
        return out
    x = np.asarray(x, dtype=np.float32)
    if isinstance(model, CompactModel):
        p, classes = model.predict_proba(x), model.classes
    else:
        from threadpoolctl import threadpool_limits
        # one thread: on a shared machine OpenMP spin-waiting costs far more than it gains
        with threadpool_limits(limits=1, user_api="openmp"):
            p, classes = model.predict_proba(x), model.classes_
    for j, c in enumerate(classes):
        out[:, MORPHOLOGIES.index(str(c))] = p[:, j]
    return out


# ------------------------------------------------------------------ writing --------
def save(model, path: Path, x_ref: np.ndarray, info: dict | None = None) -> Path:
    """Write the fitted scikit-learn ``model`` as ``.skops``, ``.npz`` and ``.json`` next
    to ``path`` (its suffix is ignored); returns the ``.npz`` path."""
    import skops.io as sio
    full = sklearn_path(path)
    with atomic_path(full) as tmp:
        sio.dump(model, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    return write_compact(model, path, x_ref, info)


def write_compact(model, path: Path, x_ref: np.ndarray, info: dict | None = None) -> Path:
    """Write the ``.npz`` of a fitted scikit-learn ``model`` and the ``.json`` sidecar
    (checksums of the ``.npz`` and of the ``.skops`` beside it, when there is one);
    refuses to write a compact model that does not reproduce ``model`` on ``x_ref``."""
    import sklearn
    import skops
    npz, full = compact_path(path), sklearn_path(path)
    npz.parent.mkdir(parents=True, exist_ok=True)
    compact = compact_model.from_calibrated(model)
    x_ref = np.asarray(x_ref, dtype=np.float32)
    expected = predict_proba(model, x_ref)
    if not np.allclose(predict_proba(compact, x_ref), expected, rtol=0, atol=1e-9):
        raise RuntimeError("the compact model does not reproduce scikit-learn's "
                           "probabilities; not writing it")
    compact_model.write_npz(compact, npz)
    meta = dict(info or {})
    meta.update(
        file=npz.name, sha256=sha256_file(npz), format=compact_model.FORMAT,
        sklearn_file=full.name if full.is_file() else None,
        sklearn_sha256=sha256_file(full) if full.is_file() else None,
        sklearn_version=sklearn.__version__, skops_version=skops.__version__,
        numpy_version=np.__version__, feature_names=FEATURE_NAMES, classes=MORPHOLOGIES,
        reference_x=x_ref.tolist(), reference_proba=expected.round(6).tolist(),
        retrain="mitraseti train",
    )
    sidecar_path(npz).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return npz


# ------------------------------------------------------------------ loading --------
def _checked_meta(path: Path, digest_key: str) -> dict:
    """The sidecar of ``path`` after checking that ``path``'s SHA-256 matches it."""
    side = sidecar_path(path)
    if not path.is_file() or not side.is_file():
        raise ModelLoadError(f"classifier {path} (or its checksum file {side.name}) is "
                             f"missing; {RETRAIN_HINT}", path=path)
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        reference = (np.asarray(meta["reference_x"], dtype=np.float32),
                     np.asarray(meta["reference_proba"], dtype=float))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"checksum file {side} of classifier {path} is unreadable "
                             f"({exc!r}); {RETRAIN_HINT}", path=path) from None
    digest = sha256_file(path)
    if digest != meta.get(digest_key):
        raise ModelLoadError(f"classifier {path} fails its checksum (sha256 {digest[:12]}... "
                             f"expected {str(meta.get(digest_key))[:12]}...): the file was "
                             f"modified or truncated, or is from another training run; "
                             f"{RETRAIN_HINT}", path=path)
    if meta.get("feature_names") != FEATURE_NAMES:
        raise ModelLoadError(f"classifier {path} was trained on other features than this "
                             f"version of MitraSETI computes; {RETRAIN_HINT}", path=path)
    return dict(meta, reference=reference)


def _public_meta(meta: dict) -> dict:
    """The sidecar as kept on the loaded model: without its reference rows."""
    return {k: v for k, v in meta.items() if not k.startswith("reference")}


def load(path: Path | None = None) -> CompactModel:
    """Load the compact classifier (``.npz``; default: the shipped one) after checking its
    checksum, its arrays and its reference predictions. numpy only: nothing is unpickled."""
    path = compact_path(path) if path is not None else default_model_path()
    meta = _checked_meta(path, "sha256")
    try:
        model = compact_model.read_npz(path)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"classifier {path} is not a usable MitraSETI model file "
                             f"({exc}); {RETRAIN_HINT}", path=path) from None
    if len(model.classes) != len(MORPHOLOGIES) or set(model.classes) != set(MORPHOLOGIES) \
            or model.n_features != len(FEATURE_NAMES):
        raise ModelLoadError(f"classifier {path} predicts {model.classes} from "
                             f"{model.n_features} features, not this version's "
                             f"morphologies; {RETRAIN_HINT}", path=path)
    ref_x, ref_p = meta["reference"]
    try:
        got = predict_proba(model, ref_x)
    except (ValueError, IndexError):     # reference rows of the wrong shape
        got = None
    if got is None or got.shape != ref_p.shape or not np.allclose(got, ref_p, rtol=0,
                                                                   atol=REFERENCE_ATOL):
        raise ModelLoadError(f"classifier {path} no longer reproduces its reference "
                             f"predictions; {RETRAIN_HINT}", path=path)
    model.mitraseti_meta = _public_meta(meta)
    return model


load_model = load


def load_sklearn(path: Path | None = None):
    """The full scikit-learn object from the ``.skops`` beside ``path`` (default: the
    shipped one), after checking its checksum and that it holds only ``TRUSTED_TYPES``.
    Slow (imports skops and scikit-learn); MitraSETI itself never calls it at run time."""
    import skops.io as sio
    full = sklearn_path(path if path is not None else default_model_path())
    meta = _checked_meta(full, "sklearn_sha256")
    try:
        untrusted = sio.get_untrusted_types(file=full)
    except Exception as exc:  # noqa: BLE001 - any parse failure means an unusable file
        raise ModelLoadError(f"classifier {full} is not a readable skops file ({exc}); "
                             f"{RETRAIN_HINT}", path=full) from None
    bad = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if bad:
        raise ModelLoadError(f"classifier {full} contains untrusted type(s) {bad}; refusing "
                             f"to load it; {RETRAIN_HINT}", path=full)
    import sklearn
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = sio.load(full, trusted=list(untrusted))
        got = predict_proba(model, meta["reference"][0])
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"classifier {full} (scikit-learn {meta.get('sklearn_version')}) cannot be used "
            f"with the installed scikit-learn {sklearn.__version__}: {exc}; "
            f"{RETRAIN_HINT}", path=full) from None
    if got.shape != meta["reference"][1].shape or not np.allclose(got, meta["reference"][1],
                                                                  atol=2e-3):
        raise ModelLoadError(
            f"classifier {full} no longer reproduces its reference predictions with "
            f"scikit-learn {sklearn.__version__} (trained with "
            f"{meta.get('sklearn_version')}); {RETRAIN_HINT}", path=full)
    model.mitraseti_meta = _public_meta(meta)
    return model


_CACHE: dict = {}


def load_default() -> CompactModel:
    """The shipped classifier, loaded once per process."""
    if "model" not in _CACHE:
        _CACHE["model"] = load(default_model_path())
    return _CACHE["model"]
