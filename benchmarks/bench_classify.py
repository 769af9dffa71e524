"""Speed of classify_hits: 10,000 hits on one synthetic coarse channel, and of loading the
classifier in a fresh process (prints numbers).

    .venv/bin/python benchmarks/bench_classify.py [--hits 10000] [--channels 262144]

Not a test: it prints seconds per stage and hits per second on this machine.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from mitraseti.search.hit import Hit
from mitraseti.signals import classify_hits
from mitraseti.signals.features import compute_features
from mitraseti.signals.model import load_default, predict_proba
from mitraseti.synth import NoiseModel, make_observation


def fresh_process_seconds(code: str, repeat: int) -> float:
    """Best wall time (s) of ``python -c code`` in a new interpreter."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hits", type=int, default=10_000)
    ap.add_argument("--channels", type=int, default=262_144)
    ap.add_argument("--spectra", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    obs = make_observation(n_spectra=a.spectra, n_chans=a.channels,
                           noise=NoiseModel(kind="chi2", dof=32), seed=0)
    hdr, data = obs.header, obs.data
    rng = np.random.default_rng(1)
    ch = rng.integers(0, a.channels, a.hits)
    drift = rng.uniform(-4, 4, a.hits)
    snr = rng.uniform(10, 100, a.hits)
    model = load_default()

    def make_hits():
        return [Hit(frequency_hz=hdr.channel_frequency_hz(c), drift_rate=d, snr=s,
                    channel_index=int(c)) for c, d, s in zip(ch, drift, snr)]

    start = fresh_process_seconds("pass", a.repeat)
    load = fresh_process_seconds("from mitraseti.signals.model import load_model; "
                                 "load_model()", a.repeat)
    print(f"fresh process: interpreter {start:.3f} s, import + load_model() "
          f"{load - start:.3f} s more")
    classify_hits(make_hits()[:100], data, hdr, model=model)  # warm-up (imports, tables)
    predict_proba(model, compute_features(data, hdr, ch, drift, snr))  # numba start-up
    best = {}
    for _ in range(a.repeat):
        hits = make_hits()
        t0 = time.perf_counter()
        x = compute_features(data, hdr, ch, drift, snr)
        t1 = time.perf_counter()
        predict_proba(model, x)
        t2 = time.perf_counter()
        classify_hits(hits, data, hdr, model=model)
        t3 = time.perf_counter()
        for k, v in (("features", t1 - t0), ("predict", t2 - t1), ("classify_hits", t3 - t2)):
            best[k] = min(best.get(k, np.inf), v)
    print(f"block {a.spectra} x {a.channels} (df {hdr.df_hz:.3f} Hz), {a.hits} hits, "
          f"best of {a.repeat}:")
    for k, v in best.items():
        print(f"  {k:<14} {v:7.3f} s")
    print(f"  classify_hits: {a.hits / best['classify_hits']:,.0f} hits/s "
          f"(target: 10,000 hits in < 5 s)")


if __name__ == "__main__":
    main()
