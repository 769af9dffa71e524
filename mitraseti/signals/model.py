"""The morphology classifier: train, save, load safely, predict probabilities.

Model: scikit-learn ``HistGradientBoostingClassifier`` on the features of
:mod:`mitraseti.signals.features`, wrapped in ``CalibratedClassifierCV`` (sigmoid, 3-fold)
so ``predict_proba`` is calibrated. Stored with skops (never pickle) next to a JSON
sidecar holding the file's SHA-256, the library versions, the feature names and a few
reference rows with their expected probabilities.

Loading refuses: a file whose SHA-256 differs from the sidecar (tampered or truncated), a
file holding any type outside ``TRUSTED_TYPES``, and a model whose reference predictions
no longer reproduce (e.g. an incompatible scikit-learn). Every refusal raises
:class:`ModelLoadError` naming the file and the one command that rebuilds it:
``mitraseti train``.
"""
from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from .features import FEATURE_NAMES
from .taxonomy import MORPHOLOGIES

RETRAIN_HINT = "run `mitraseti train` to rebuild the shipped classifier"
# Every type a MitraSETI classifier file may contain (checked before loading).
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


class ModelLoadError(RuntimeError):
    """The classifier file cannot be trusted or used; the message says why and what to do."""


def default_model_path() -> Path:
    return Path(str(resources.files("mitraseti").joinpath("data/classifier.skops")))


def sidecar_path(path: Path) -> Path:
    return Path(path).with_suffix(".json")


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
    """Probabilities (n, 6) in the order of ``MORPHOLOGIES``."""
    out = np.zeros((x.shape[0], len(MORPHOLOGIES)), dtype=float)
    if x.shape[0] == 0:
        return out
    from threadpoolctl import threadpool_limits
    # one thread: on a shared machine OpenMP spin-waiting costs far more than it gains
    with threadpool_limits(limits=1, user_api="openmp"):
        p = model.predict_proba(np.asarray(x, dtype=np.float32))
    for j, c in enumerate(model.classes_):
        out[:, MORPHOLOGIES.index(str(c))] = p[:, j]
    return out


def save(model, path: Path, x_ref: np.ndarray, info: dict | None = None) -> Path:
    """Write ``path`` (skops) and its JSON sidecar with checksum and reference rows."""
    import sklearn
    import skops
    import skops.io as sio
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    sio.dump(model, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    tmp.replace(path)
    meta = dict(info or {})
    meta.update(
        file=path.name, sha256=sha256_file(path), format="skops",
        sklearn_version=sklearn.__version__, skops_version=skops.__version__,
        numpy_version=np.__version__, feature_names=FEATURE_NAMES, classes=MORPHOLOGIES,
        reference_x=np.asarray(x_ref, dtype=np.float32).tolist(),
        reference_proba=predict_proba(model, x_ref).round(6).tolist(),
        retrain="mitraseti train",
    )
    sidecar_path(path).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return path


def load(path: Path | None = None):
    """Load a classifier after checking checksum, types and reference predictions."""
    import skops.io as sio
    path = Path(path) if path is not None else default_model_path()
    side = sidecar_path(path)
    if not path.is_file() or not side.is_file():
        raise ModelLoadError(f"classifier {path} (or its checksum file {side.name}) is "
                             f"missing; {RETRAIN_HINT}")
    meta = json.loads(side.read_text(encoding="utf-8"))
    digest = sha256_file(path)
    if digest != meta.get("sha256"):
        raise ModelLoadError(f"classifier {path} fails its checksum (sha256 {digest[:12]}... "
                             f"expected {str(meta.get('sha256'))[:12]}...): the file was "
                             f"modified or truncated; {RETRAIN_HINT}")
    if meta.get("feature_names") != FEATURE_NAMES:
        raise ModelLoadError(f"classifier {path} was trained on other features than this "
                             f"version of MitraSETI computes; {RETRAIN_HINT}")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - any parse failure means an unusable file
        raise ModelLoadError(f"classifier {path} is not a readable skops file ({exc}); "
                             f"{RETRAIN_HINT}") from None
    bad = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if bad:
        raise ModelLoadError(f"classifier {path} contains untrusted type(s) {bad}; refusing "
                             f"to load it; {RETRAIN_HINT}")
    import sklearn
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = sio.load(path, trusted=list(untrusted))
        ref = np.asarray(meta["reference_x"], dtype=np.float32)
        got = predict_proba(model, ref)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"classifier {path} (scikit-learn {meta.get('sklearn_version')}) cannot be used "
            f"with the installed scikit-learn {sklearn.__version__}: {exc}; "
            f"{RETRAIN_HINT}") from None
    if not np.allclose(got, np.asarray(meta["reference_proba"]), atol=2e-3):
        raise ModelLoadError(
            f"classifier {path} no longer reproduces its reference predictions with "
            f"scikit-learn {sklearn.__version__} (trained with "
            f"{meta.get('sklearn_version')}); {RETRAIN_HINT}")
    model.mitraseti_meta = {k: v for k, v in meta.items() if not k.startswith("reference")}
    return model


_CACHE: dict = {}


def load_default():
    """The shipped classifier, loaded once per process."""
    if "model" not in _CACHE:
        _CACHE["model"] = load(default_model_path())
    return _CACHE["model"]
