"""Baseline estimators side by side on the dirty benchmark set.

    .venv/bin/python benchmarks/compare_baselines.py [--n-files 3] [--n-signals 40]

Generates compare_turboseti.py's dirty observations (the clean set's tones through a PFB
bandpass with edges at 1/3 of the centre, a DC spike and eight broadband interferers
2-30 kHz wide) and searches each one after a different baseline treatment:

* ``global``: none; one noise figure for the whole block (what turboSETI does);
* ``running median``: the time-averaged spectrum divided by its running median over
  ~1 kHz (2 x 500 Hz), then searched with one noise figure;
* ``spline``: a cubic smoothing spline through 256-channel block medians, with blocks
  of excess power masked and the fit repeated (iterative sigma clipping), divided out;
* ``coarse median``: (only with --coarse N) the median over N coarse channels of their
  normalised time-averaged spectra, the bandpass template BL pipelines divide by;
* ``MitraSETI``: ``mitraseti.search.baseline`` (bandpass, DC spike, broadband features
  followed per spectrum where needed, local noise).

Prints recall per nominal S/N bin, false positives, hits on broadband features and the
wall time of the baseline step plus search. Everything runs in this process (the search
kernels are warmed first).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compare_turboseti import SNR_BINS, generate, match, recall_rows  # noqa: E402


def divide_running_median(block: np.ndarray, df_hz: float) -> None:
    from mitraseti.search.baseline import fine_half_window
    from mitraseti.search.running_median import running_median

    spec = block.mean(axis=0, dtype=np.float64)
    base = running_median(spec, fine_half_window(df_hz))
    block /= np.maximum(base, 1e-12).astype(np.float32)


def divide_spline(block: np.ndarray, df_hz: float, width: int = 256) -> None:
    from scipy.interpolate import make_smoothing_spline

    from mitraseti.search.running_median import block_medians, to_channels

    spec = block.mean(axis=0, dtype=np.float64)
    meds = block_medians(spec, width)
    x = np.arange(meds.size, dtype=float)
    keep = np.ones(meds.size, dtype=bool)
    for _ in range(5):
        fit = make_smoothing_spline(x[keep], meds[keep], lam=None)(x)
        resid = meds - fit
        sig = 1.4826 * np.median(np.abs(resid[keep] - np.median(resid[keep])))
        new = resid < 4 * sig
        if np.array_equal(new, keep):
            break
        keep = new
    block /= np.maximum(to_channels(fit, width, spec.size), 1e-12).astype(np.float32)


def run(name: str, made, params_kw: dict, prepare=None) -> dict:
    from mitraseti.io import open_observation
    from mitraseti.search import SearchParams, search_coarse_channel

    params = SearchParams(**params_kw)
    found, fp, bb, secs = [], 0, 0, []
    for path, header, truth, features, dc in made:
        with open_observation(path, n_coarse_chan=1) as obs:
            block = obs.read()
        t = time.perf_counter()
        if prepare is not None:
            prepare(block, header.df_hz)
        _, hits = search_coarse_channel(block, header, params, in_place=True)
        secs.append(time.perf_counter() - t)
        res = match([h.to_dict() for h in hits], truth, header, features, dc)
        found.append(res["found"])
        fp += res["fp"]
        bb += int(res["bb"].sum())
    return {"name": name, "found": np.concatenate(found), "fp": fp, "bb": bb,
            "secs": float(np.median(secs))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-files", type=int, default=3)
    ap.add_argument("--n-signals", type=int, default=40)
    ap.add_argument("--nchans", type=int, default=2**20)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "baselines")
    args = ap.parse_args(argv)

    made = generate(args.out, args.n_files, args.n_signals, args.nchans, args.seed,
                    dirty=True)
    warm = generate(args.out / "warmup", 1, 4, 1 << 15, args.seed + 1, dirty=True)
    methods = [("global", {"baseline": False}, None),
               ("running median", {"baseline": False}, divide_running_median),
               ("spline", {"baseline": False}, divide_spline),
               ("MitraSETI", {}, None)]
    rows = []
    for name, kw, prep in methods:
        run(name, warm, kw, prep)
        rows.append(run(name, made, kw, prep))
    snr = np.array([t["snr_nominal"] for _, _, tr, _, _ in made for t in tr])
    n_feat = sum(len(f) for _, _, _, f, _ in made)
    w = 16
    print(f"\ndirty set: {len(snr)} tones, {n_feat} broadband features in {args.n_files} "
          f"files of {args.nchans} x 16")
    print("metric".ljust(22) + "".join(r["name"].rjust(w) for r in rows))
    for i, (lo, hi) in enumerate(SNR_BINS):
        cells = [recall_rows(r["found"], snr, SNR_BINS)[i] for r in rows]
        print(f"recall S/N {cells[0][0]}".ljust(22)
              + "".join(f"{c[1]}/{c[2]}".rjust(w) for c in cells))
    print("recall overall".ljust(22)
          + "".join(f"{int(r['found'].sum())}/{len(snr)}".rjust(w) for r in rows))
    print("false positives".ljust(22) + "".join(str(r["fp"]).rjust(w) for r in rows))
    print(f"hits on features ({n_feat})".ljust(22) + "".join(str(r["bb"]).rjust(w) for r in rows))
    print("baseline+search (s)".ljust(22) + "".join(f"{r['secs']:.2f}".rjust(w) for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
