"""The compact model gives scikit-learn's probabilities: in-test models and the shipped one."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from mitraseti.signals import compact_model as CM
from mitraseti.signals import model as M
from mitraseti.signals import trainset


@pytest.fixture(autouse=True)
def one_openmp_thread():
    """scikit-learn fits and predicts on one thread: fast on a shared machine."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def examples():
    """Seeded feature vectors of every morphology from the training generator."""
    x, y, _ = trainset.build_set(11, 40, use_search=False)
    return x, y


def _probe_rows(x: np.ndarray, n: int, seed: int, nan_share: float) -> np.ndarray:
    """``n`` rows mixing the columns of ``x`` (each feature from a random example), scaled
    by up to +-50 %, with a share of NaNs: reaches far more tree paths than ``x`` itself."""
    rng = np.random.default_rng(seed)
    rows = x[rng.integers(0, len(x), (n, x.shape[1])), np.arange(x.shape[1])]
    rows = rows * rng.uniform(0.5, 1.5, rows.shape)
    rows[rng.random(rows.shape) < nan_share] = np.nan
    return np.vstack([x, rows]).astype(np.float32)


def _fit(x, y, ensemble: bool, seed: int = 5):
    base = HistGradientBoostingClassifier(max_iter=25, max_leaf_nodes=7, random_state=seed)
    clf = CalibratedClassifierCV(base, method="sigmoid", ensemble=ensemble,
                                 cv=StratifiedKFold(3, shuffle=True, random_state=seed))
    return clf.fit(x, y)


def _assert_same(compact, clf, x):
    want = clf.predict_proba(x)
    for engine in ("numpy", "numba"):
        raw = compact.raw_scores(x, engine=engine)
        for fold, cal in enumerate(clf.calibrated_classifiers_):
            assert np.array_equal(raw[fold], cal.estimator.decision_function(x)), engine
    got = compact.predict_proba(x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert np.array_equal(got.argmax(axis=1), want.argmax(axis=1))


@pytest.mark.parametrize("ensemble", [False, True])   # one calibrated model, or 3 averaged
def test_in_test_model_matches_sklearn_with_nans(examples, ensemble):
    x, y = examples
    x_fit = x.copy()
    x_fit[np.random.default_rng(1).random(x.shape) < 0.05] = np.nan  # learn NaN directions
    clf = _fit(x_fit, y, ensemble)
    compact = CM.from_calibrated(clf)
    assert compact.n_folds == (3 if ensemble else 1)
    assert compact.classes == [str(c) for c in clf.classes_]
    _assert_same(compact, clf, _probe_rows(x, 3000, seed=2, nan_share=0.05))


def test_values_exactly_on_thresholds_go_left_as_in_sklearn(examples):
    x, y = examples
    clf = _fit(x, y, ensemble=False)
    compact = CM.from_calibrated(clf)
    a = compact.arrays
    split = np.nonzero(a["node_is_leaf"] == 0)[0]
    rows = np.repeat(x[:1].astype(np.float64), len(split), axis=0)
    rows[np.arange(len(split)), a["node_feature"][split]] = a["node_threshold"][split]
    _assert_same(compact, clf, rows)


def test_written_file_reads_back_identically(examples, tmp_path):
    x, y = examples
    compact = CM.from_calibrated(_fit(x, y, ensemble=True))
    back = CM.read_npz(CM.write_npz(compact, tmp_path / "m.npz"))
    assert back.classes == compact.classes and back.n_features == compact.n_features
    for key, arr in compact.arrays.items():
        assert arr.dtype == back.arrays[key].dtype and np.array_equal(arr, back.arrays[key])


def test_categorical_splits_are_refused(examples):
    x, y = examples
    xc = x.copy()
    xc[:, 0] = np.arange(len(x)) % 4
    base = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0])
    clf = CalibratedClassifierCV(base, method="sigmoid", cv=3).fit(xc, y)
    with pytest.raises(ValueError, match="categorical"):
        CM.from_calibrated(clf)


def test_shipped_compact_model_matches_the_shipped_sklearn_model(examples):
    """Same probabilities (1e-9) and labels as the shipped .skops on seeded vectors."""
    x, _ = examples
    compact = M.load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = M.load_sklearn()
    probe = _probe_rows(x, 3000, seed=3, nan_share=0.02)
    got, want = M.predict_proba(compact, probe), M.predict_proba(full, probe)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert np.array_equal(got.argmax(axis=1), want.argmax(axis=1))
    meta = json.loads(M.sidecar_path(M.default_model_path()).read_text())
    assert meta["sklearn_sha256"] == M.sha256_file(M.sklearn_path(M.default_model_path()))


def test_loading_and_classifying_import_no_sklearn_scipy_or_skops():
    """Loading and predicting a small batch need numpy only; classify_hits adds neither
    scikit-learn nor skops (numba, which the search uses, brings scipy's base package)."""
    code = """
import sys
import numpy as np
HEAVY = {"sklearn", "scipy", "skops", "numba"}
def heavy():
    return sorted({m.split(".")[0] for m in sys.modules} & HEAVY)
from mitraseti.signals.model import load_model, predict_proba
model = load_model()
predict_proba(model, np.ones((50, model.n_features), dtype=np.float32))
print("model", heavy())
from mitraseti.io.header import ObservationHeader
from mitraseti.search.hit import Hit
from mitraseti.signals.classify import classify_hits
hdr = ObservationHeader(nchans=1024, fch1=8400.0, foff=-2.79e-6, tsamp=18.25, n_spectra=16,
                        nfpc=1024, tstart=60000.0)
data = np.random.default_rng(0).normal(100, 1, (16, 1024)).astype(np.float32)
data[:, 300] += 5.0
hits = [Hit(frequency_hz=8.4e9, drift_rate=0.0, snr=20.0, channel_index=c)
        for c in (300, 600)]
classify_hits(hits, data, hdr)
assert all(h.classification for h in hits)
print("classify", heavy())
"""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "model []", out.stdout
    assert "sklearn" not in lines[1] and "skops" not in lines[1], out.stdout
