"""Classifier storage: the three files, checksums, refusals, reproducibility, determinism."""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from mitraseti.signals import compact_model as CM
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
    return M.save(fitted, tmp_path / "clf.npz", x[:6]), x


def _rewrite_with_checksum(npz: Path, arrays: dict) -> None:
    """Replace ``npz`` by ``arrays`` and record its new SHA-256 (as an attacker could)."""
    np.savez(npz, **arrays)
    meta = json.loads(M.sidecar_path(npz).read_text())
    meta["sha256"] = M.sha256_file(npz)
    M.sidecar_path(npz).write_text(json.dumps(meta))


def test_shipped_model_loads_and_is_small():
    path = M.default_model_path()
    assert path.suffix == ".npz" and path.stat().st_size < 1e6
    fitted = M.load(path)
    meta = json.loads(M.sidecar_path(path).read_text())
    assert meta["sha256"] == M.sha256_file(path)
    assert meta["sklearn_sha256"] == M.sha256_file(M.sklearn_path(path))
    p = M.predict_proba(fitted, np.asarray(meta["reference_x"], dtype=np.float32))
    assert np.allclose(p.sum(axis=1), 1.0)
    assert fitted.mitraseti_meta["classes"] == M.MORPHOLOGIES


def test_save_writes_npz_skops_and_sidecar_with_both_checksums(saved):
    path, _ = saved
    meta = json.loads(M.sidecar_path(path).read_text())
    assert (path.suffix, meta["file"], meta["format"]) == (".npz", path.name, CM.FORMAT)
    assert meta["sha256"] == M.sha256_file(path)
    assert meta["sklearn_file"] == "clf.skops"
    assert meta["sklearn_sha256"] == M.sha256_file(path.with_suffix(".skops"))


def test_round_trip_matches_the_sklearn_model(tiny, saved):
    path, x = saved
    fitted = M.load(path)
    assert isinstance(fitted, CM.CompactModel)
    np.testing.assert_allclose(M.predict_proba(fitted, x), M.predict_proba(tiny[2], x),
                               rtol=0, atol=1e-9)
    full = M.load_sklearn(path)
    assert np.array_equal(M.predict_proba(full, x), M.predict_proba(tiny[2], x))


def test_npz_bytes_are_reproducible(tiny, tmp_path):
    x, _, fitted = tiny
    a = M.write_compact(fitted, tmp_path / "a" / "m.npz", x[:6])
    b = M.write_compact(fitted, tmp_path / "b" / "m.npz", x[:6])
    assert a.read_bytes() == b.read_bytes()


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


class _Payload:
    """Unpickling this would create ``marker``: proof that code ran."""
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (self.marker.touch, ())


def test_pickled_array_is_refused_without_running_it(saved, tmp_path):
    path, _ = saved
    marker = tmp_path / "code_ran"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["node_value"] = np.array([_Payload(marker)], dtype=object)
    _rewrite_with_checksum(path, arrays)
    with pytest.raises(M.ModelLoadError, match="not a usable") as e:
        M.load(path)
    assert "mitraseti train" in str(e.value) and not marker.exists()


@pytest.mark.parametrize("key, change", [
    ("node_left", lambda a: np.where(a >= 0, a + 10**6, a)),       # child out of range
    ("node_right", lambda a: np.where(a >= 0, 0, a)),              # child before its split
    ("node_feature", lambda a: a + 99),                            # no such feature
    ("tree_root", lambda a: a[:-1]),                               # tree arrays disagree
])
def test_inconsistent_arrays_are_refused(saved, key, change):
    path, _ = saved
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[key] = change(arrays[key])
    _rewrite_with_checksum(path, arrays)
    with pytest.raises(M.ModelLoadError, match="not a usable"):
        M.load(path)


def test_untrusted_type_in_skops_is_refused_even_with_a_valid_checksum(tiny, tmp_path):
    x, _, fitted = tiny
    good = M.save(fitted, tmp_path / "clf.npz", x[:6])
    evil = tmp_path / "evil.skops"
    sio.dump({"model": fitted, "hook": math.sqrt}, evil)  # a function: not a trusted type
    shutil.copy(evil, M.sklearn_path(good))
    meta = json.loads(M.sidecar_path(good).read_text())
    meta["sklearn_sha256"] = M.sha256_file(M.sklearn_path(good))
    M.sidecar_path(good).write_text(json.dumps(meta))
    with pytest.raises(M.ModelLoadError, match="untrusted type") as e:
        M.load_sklearn(good)
    assert "sqrt" in str(e.value)
    assert M.load(good).n_features == x.shape[1]   # the compact model is unaffected


def test_model_that_no_longer_reproduces_is_refused(saved):
    """What a wrong or stale sidecar looks like: reference predictions change."""
    path, _ = saved
    meta = json.loads(M.sidecar_path(path).read_text())
    meta["reference_proba"] = (1 - np.asarray(meta["reference_proba"])).tolist()
    M.sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(M.ModelLoadError, match="reference predictions") as e:
        M.load(path)
    assert "mitraseti train" in str(e.value)


def test_training_is_deterministic(tiny):
    x, y, fitted = tiny
    x2, y2, _ = trainset.build_set(7, 12, use_search=False)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    again = M.train(x2, y2, seed=3, max_iter=15)
    assert np.array_equal(M.predict_proba(fitted, x), M.predict_proba(again, x))
