"""Train the shipped classifier, and measure any classifier on fresh seeded sets.

Sets (see :mod:`mitraseti.signals.trainset`):
* ``standard``: training resolutions and noise models, seeds never used in training;
* ``held_out``: resolutions (``HELD_OUT_SETTINGS``) and noise models (``HELD_OUT_NOISE``)
  that training never saw;
* ``dirty``: the training resolutions and noise models seen through dirty receivers
  (bandpass, DC spike, broadband interference beside the signal, 8-bit quantisation;
  :mod:`mitraseti.signals.trainset_dirty`) drawn from seeds training never used;
* ``long_held_out``: a long observation (384 spectra, ``LONG_HELD_OUT_SETTINGS``) at a
  resolution training never saw, with the training noise models.
Training (``TRAIN_MIX``) adds dirty receivers and long observations
(``LONG_TRAIN_SETTINGS``, other lengths and resolutions than the held-out ones) to the
training resolutions. Training uses example seeds ``[seed, i]``; evaluation
``[EVAL_TAG, seed, k, i]``, so the two never share a random stream.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import model as model_mod
from . import trainset
from .features import FEATURE_NAMES
from ..taxonomy import MORPHOLOGIES

EVAL_TAG = 0xE7A1
TRAIN_PER_LABEL = 1000
EVAL_PER_LABEL = 200
# shares of the training examples seen through a dirty receiver / from long observations
TRAIN_MIX = dict(dirty_share=0.4, long_share=0.2)
N_REFERENCE_ROWS = 24


def train_default(seed: int = 0, out: str | Path | None = None,
                  n_per_label: int = TRAIN_PER_LABEL, progress=None, max_iter: int = 150,
                  workers: int = 1):
    """Build the training set (``workers`` processes; the same set whatever their
    number), fit, and save the classifier (default: the shipped path): writes ``.npz``
    (loaded at run time), ``.skops`` and ``.json`` (checksums, reference rows) side by
    side; returns the ``.npz`` path and the training info."""
    out = Path(out) if out is not None else model_mod.default_model_path()
    t0 = time.perf_counter()
    x, y, meta = trainset.build_set(seed, n_per_label, progress=progress, workers=workers,
                                    long_settings=trainset.LONG_TRAIN_SETTINGS, **TRAIN_MIX)
    t_set = time.perf_counter() - t0
    fitted = model_mod.train(x, y, seed=seed, max_iter=max_iter)
    t_fit = time.perf_counter() - t0 - t_set
    counts = {m: int((y == m).sum()) for m in MORPHOLOGIES}
    info = dict(seed=seed, n_per_label=n_per_label, n_examples=int(len(y)),
                label_counts=counts, settings=sorted(trainset.TRAIN_SETTINGS),
                long_settings=sorted(trainset.LONG_TRAIN_SETTINGS),
                n_dirty=int(sum(m["dirty"] for m in meta)), mix=TRAIN_MIX,
                noise_models=list(trainset.TRAIN_NOISE),
                used_search=True,
                build_seconds=round(t_set, 1), fit_seconds=round(t_fit, 1))
    rng = np.random.default_rng(seed)
    ref = x[rng.choice(len(x), size=min(N_REFERENCE_ROWS, len(x)), replace=False)]
    model_mod.save(fitted, out, ref, info)
    return out, info


def evaluation_sets(seed: int = 0, n_per_label: int = EVAL_PER_LABEL, progress=None,
                    workers: int = 1):
    """{name: (x, y, meta)} for the standard, held-out, dirty and long held-out sets."""
    kw = dict(progress=progress, workers=workers)
    return {
        "standard": trainset.build_set((EVAL_TAG, seed), n_per_label, **kw),
        "held_out": trainset.build_set((EVAL_TAG, seed, 1), n_per_label,
                                       settings=trainset.HELD_OUT_SETTINGS,
                                       noises=trainset.HELD_OUT_NOISE, **kw),
        "dirty": trainset.build_set((EVAL_TAG, seed, 3), n_per_label, dirty_share=1.0, **kw),
        "long_held_out": trainset.build_set((EVAL_TAG, seed, 2), n_per_label,
                                            settings=trainset.LONG_HELD_OUT_SETTINGS, **kw),
    }


def score(fitted, x, y, meta=None) -> dict:
    """Per-label precision, recall, F1, support, macro-F1, accuracy, confusion matrix of
    the final morphology: the model and the rules of classify_hits (the drift rule; with
    ``meta`` from :func:`trainset.build_set`, also BROADBAND for a matched-filter boxcar
    >= 500 Hz and NOISE on the DC bin / band edge)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from .classify import morphology
    drift_r = x[:, FEATURE_NAMES.index("drift_r")]
    artifact = np.zeros(len(x), dtype=bool)
    broad = np.zeros(len(x), dtype=bool)
    if meta is not None:
        artifact = np.array([m["artifact"] for m in meta], dtype=bool)
        broad = np.array([m["rule_broadband"] for m in meta], dtype=bool)
    idx, _, _ = morphology(model_mod.predict_proba(fitted, x), drift_r, artifact, broad)
    pred = np.array(MORPHOLOGIES)[idx]
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=MORPHOLOGIES,
                                                 zero_division=0)
    return dict(labels=MORPHOLOGIES, precision=p.tolist(), recall=r.tolist(), f1=f.tolist(),
                support=s.tolist(), macro_f1=float(np.mean(f)),
                accuracy=float(np.mean(pred == y)),
                confusion=confusion_matrix(y, pred, labels=MORPHOLOGIES).tolist())


def evaluate(fitted=None, seed: int = 0, n_per_label: int = EVAL_PER_LABEL, progress=None,
             workers: int = 1):
    """{set name: score dict} for the shipped (or given) classifier."""
    fitted = fitted if fitted is not None else model_mod.load_default()
    sets = evaluation_sets(seed, n_per_label, progress, workers)
    return {name: score(fitted, *xym) for name, xym in sets.items()}


def format_report(name: str, rep: dict) -> str:
    """A plain-text table: per-label precision/recall/F1 and the confusion matrix."""
    short = {m: m.replace("NARROWBAND_", "NB_") for m in rep["labels"]}
    lines = [f"== {name}: macro-F1 {rep['macro_f1']:.3f}, accuracy {rep['accuracy']:.3f}",
             f"{'label':<16}{'precision':>10}{'recall':>8}{'F1':>7}{'n':>6}"]
    for i, m in enumerate(rep["labels"]):
        lines.append(f"{short[m]:<16}{rep['precision'][i]:>10.3f}{rep['recall'][i]:>8.3f}"
                     f"{rep['f1'][i]:>7.3f}{rep['support'][i]:>6d}")
    lines.append("confusion (rows true, columns predicted): "
                 + " ".join(short[m] for m in rep["labels"]))
    for i, m in enumerate(rep["labels"]):
        lines.append(f"{short[m]:<16}" + "".join(f"{v:>7d}" for v in rep["confusion"][i]))
    return "\n".join(lines)
