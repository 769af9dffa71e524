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
* ``coarse median``: (a second file, 16 coarse channels of 2**16, the same receiver in
  every one) the median over the coarse channels of their normalised time-averaged
  spectra, the bandpass template BL pipelines divide by, then one noise figure per
  coarse channel; compared there with MitraSETI alone and with the two combined;
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


def coarse_template(path: Path, nfpc: int) -> np.ndarray:
    """Median over coarse channels of their time-averaged spectra, each normalised by its
    own median: one coarse channel's bandpass shape."""
    from mitraseti.io import open_observation

    with open_observation(path, n_coarse_chan=None) as obs:
        spectra = [obs.coarse_channel(i).mean(axis=0, dtype=np.float64)
                   for i in range(obs.header.nchans // nfpc)]
    from mitraseti.search.running_median import running_median

    norm = np.array([s / np.median(s) for s in spectra])
    # a median of a few noisy spectra has per-channel noise (a few %) that would become
    # stationary "signals" once divided out: smoothed over 65 channels
    return running_median(np.median(norm, axis=0), 32)


def make_multi_coarse(out: Path, seed: int, n_coarse: int = 16, nfpc: int = 1 << 16,
                      n_signals: int = 48):
    """One file of ``n_coarse`` coarse channels with the same PFB bandpass (edges 1/3),
    DC spikes, broadband interferers and smeared tones; returns (path, header, truth,
    broadband extents, DC channels) like compare_turboseti.generate."""
    from mitraseti.synth import (Bandpass, BroadbandRFI, DCSpikes, Impairments,
                                 NarrowbandSignal, NoiseModel, make_observation)

    rng = np.random.default_rng([seed, 7])
    nch = n_coarse * nfpc
    noise = NoiseModel(kind="chi2", dof=16, mean=1.0)
    chans = (np.arange(n_signals) + 0.5) * nch / n_signals + rng.uniform(-500, 500, n_signals)
    snrs = rng.uniform(8, 50, n_signals)
    drifts = rng.uniform(-4, 4, n_signals)
    level = snrs * noise.pixel_std / 4.0
    signals = [NarrowbandSignal(channel=float(c), drift_rate=float(d), level=float(lv),
                                snr=None, width=1.0, profile="gaussian")
               for c, d, lv in zip(chans, drifts, level)]
    feats = [BroadbandRFI(channel=float(c), width_hz=float(rng.uniform(2e3, 30e3)),
                          amplitude=float(rng.uniform(0.3, 3.0)), shape="box")
             for c in (np.arange(8) + rng.uniform(0.1, 0.9, 8)) * nch / 8]
    imp = Impairments(bandpass=Bandpass(edge_level=0.33, nfpc=nfpc),
                      dc_spikes=DCSpikes(10.0, nfpc=nfpc), broadband=feats)
    obs = make_observation(n_spectra=16, n_chans=nch, noise=noise, signals=signals,
                           seed=int(rng.integers(2**31)), n_coarse_chan=n_coarse,
                           impairments=imp)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "multi_coarse.h5"
    obs.write(path)
    truth = [{"frequency_hz": s.frequency_hz, "drift_rate": s.drift_rate,
              "snr_nominal": float(n)} for s, n in zip(obs.truth, snrs)]
    rec = obs.impairment_truth
    return path, obs.header, truth, [(r["freq_lo_hz"], r["freq_hi_hz"]) for r in rec.rfi], \
        rec.dc_channels


def run_multi(made, nfpc: int) -> list[dict]:
    """Coarse-median template vs MitraSETI vs both, per coarse channel of one file."""
    from mitraseti.io import open_observation
    from mitraseti.search import SearchParams, search_coarse_channel

    path, header, truth, features, dc = made
    template = coarse_template(path, nfpc).astype(np.float32)
    rows = []
    for name, kw, divide in (("coarse median", {"baseline": False}, True),
                             ("MitraSETI", {}, False), ("both", {}, True)):
        hits, t = [], time.perf_counter()
        with open_observation(path, n_coarse_chan=header.nchans // nfpc) as obs:
            for i in range(obs.n_coarse_channels):
                block = obs.coarse_channel(i)
                if divide:
                    block /= template
                _, h = search_coarse_channel(block, header, SearchParams(**kw), coarse_channel=i,
                                             channel_offset=i * nfpc, in_place=True)
                hits += h
        res = match([h.to_dict() for h in hits], truth, header, features, dc)
        rows.append({"name": name, "found": res["found"], "fp": res["fp"],
                     "bb": int(res["bb"].sum()), "secs": time.perf_counter() - t})
    return rows


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
    ap.add_argument("--multi-only", action="store_true", help="only the multi-coarse file")
    ap.add_argument("--nfpc", type=int, default=1 << 16,
                    help="fine channels per coarse channel of the multi-coarse file")
    args = ap.parse_args(argv)
    w = 16
    if not args.multi_only:
        single(args, w)
    multi(args, w)
    return 0


def single(args, w: int) -> None:

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


def multi(args, w: int) -> None:
    nfpc = args.nfpc
    multi = make_multi_coarse(args.out, args.seed, nfpc=nfpc)
    run_multi(make_multi_coarse(args.out / "warmup", args.seed + 1, n_coarse=2, nfpc=nfpc),
              nfpc)
    rows = run_multi(multi, nfpc)
    snr = np.array([t["snr_nominal"] for t in multi[2]])
    print(f"\nmulti-coarse file: 16 coarse channels of {nfpc} x 2.79 Hz, {len(snr)} tones, "
          f"{len(multi[3])} broadband features, the same PFB bandpass in every coarse channel")
    print("metric".ljust(22) + "".join(r["name"].rjust(w) for r in rows))
    print("recall overall".ljust(22)
          + "".join(f"{int(r['found'].sum())}/{len(snr)}".rjust(w) for r in rows))
    print("false positives".ljust(22) + "".join(str(r["fp"]).rjust(w) for r in rows))
    print(f"hits on features ({len(multi[3])})".ljust(22)
          + "".join(str(r["bb"]).rjust(w) for r in rows))
    print("baseline+search (s)".ljust(22) + "".join(f"{r['secs']:.2f}".rjust(w) for r in rows))


if __name__ == "__main__":
    sys.exit(main())
