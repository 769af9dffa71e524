"""Classifier storage: checksum, trusted types, reproducibility, determinism."""
import json
import math
import shutil

import numpy as np
import pytest
import skops.io as sio

from mitraseti.signals import model as M
from mitraseti.signals import trainset


@pytest.fixture(scope="module")
def tiny():
    """A tiny model on a tiny seeded set (no search, so it is quick)."""
    x, y, _ = trainset.build_set(7, 12, use_search=False)
    return x, y, M.train(x, y, seed=3, max_iter=15)


@pytest.fixture()
def saved(tiny, tmp_path):
    x, _, fitted = tiny
    return M.save(fitted, tmp_path / "clf.skops", x[:6]), x


def test_shipped_model_loads_and_is_small():
    path = M.default_model_path()
    assert path.stat().st_size < 5e6
    fitted = M.load(path)
    meta = json.loads(M.sidecar_path(path).read_text())
    p = M.predict_proba(fitted, np.asarray(meta["reference_x"], dtype=np.float32))
    assert np.allclose(p.sum(axis=1), 1.0)
    assert fitted.mitraseti_meta["classes"] == M.MORPHOLOGIES


def test_round_trip(saved):
    path, x = saved
    fitted = M.load(path)
    assert M.predict_proba(fitted, x).shape == (len(x), 6)


def test_tampered_file_fails_checksum(saved):
    path, _ = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(M.ModelLoadError, match="checksum") as e:
        M.load(path)
    assert "mitraseti train" in str(e.value) and str(path) in str(e.value)


def test_missing_sidecar_is_a_clear_error(saved):
    path, _ = saved
    M.sidecar_path(path).unlink()
    with pytest.raises(M.ModelLoadError, match="mitraseti train"):
        M.load(path)


def test_untrusted_type_is_refused_even_with_a_valid_checksum(tiny, tmp_path):
    x, _, fitted = tiny
    good = M.save(fitted, tmp_path / "clf.skops", x[:6])
    evil = tmp_path / "evil.skops"
    sio.dump({"model": fitted, "hook": math.sqrt}, evil)  # a function: not a trusted type
    shutil.copy(evil, good)
    meta = json.loads(M.sidecar_path(good).read_text())
    meta["sha256"] = M.sha256_file(good)
    M.sidecar_path(good).write_text(json.dumps(meta))
    with pytest.raises(M.ModelLoadError, match="untrusted type") as e:
        M.load(good)
    assert "sqrt" in str(e.value)


def test_model_that_no_longer_reproduces_is_refused(saved):
    """What an incompatible scikit-learn looks like: reference predictions change."""
    path, _ = saved
    meta = json.loads(M.sidecar_path(path).read_text())
    meta["reference_proba"] = (1 - np.asarray(meta["reference_proba"])).tolist()
    M.sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(M.ModelLoadError, match="scikit-learn") as e:
        M.load(path)
    assert "mitraseti train" in str(e.value)


def test_training_is_deterministic(tiny):
    x, y, fitted = tiny
    x2, y2, _ = trainset.build_set(7, 12, use_search=False)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    again = M.train(x2, y2, seed=3, max_iter=15)
    assert np.array_equal(M.predict_proba(fitted, x), M.predict_proba(again, x))
