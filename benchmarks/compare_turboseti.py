"""MitraSETI vs turboSETI 2.3.2 on the same seeded, Doppler-smeared observations.

    .venv/bin/python benchmarks/compare_turboseti.py [--n-files 3] [--n-signals 40] [--set both]

1. Generates ``--n-files`` Voyager-like observations with ``mitraseti.synth`` (2**20
   channels x 16 spectra, df 2.79 Hz, dt 18.25 s, chi-square noise with 16 dof, foff < 0),
   each with ``--n-signals`` narrowband tones: nominal S/N uniform in 8-50, drift uniform in
   +-4 Hz/s, Doppler smearing on (within one spectrum a tone's power is spread over
   |drift| dt / df channels). Nominal S/N is that of the same power unsmeared:
   level = S/N * pixel_std / sqrt(T) per spectrum. Written as BL .h5 (or SIGPROC .fil with
   --format fil) under benchmarks/out/.
2. Creates benchmarks/.turboseti-venv (python -m venv; pip install 'numpy<2'
   turbo-seti==2.3.2) when missing, and runs turboSETI's FindDoppler there
   (benchmarks/turboseti_runner.py), then MitraSETI (benchmarks/search_runner.py), each in
   its own process after a small warm-up file (numba compilation is not timed).
3. Prints, side by side: search wall and CPU time per file (medians), peak RSS of each child process
   (os.wait4 rusage), recall by nominal S/N bin and by |drift| bin, false positives (hits
   matching no injected tone) and duplicates (second hits on a matched tone).

``--set dirty`` (or ``both``, the default) adds a dirty set: the very same tones on the
very same noise (same seeds), recorded through a dirty receiver (mitraseti.synth
impairments): a PFB bandpass whose edges fall to 1/3 of the centre, a DC spike 10x the
local mean on channel nchans // 2, and eight noise-like broadband interferers 2-30 kHz wide
(box, tapered, Gaussian, asymmetric; continuous, intermittent, drifting, amplitude-varying;
seeded by ``[seed, file, 1]``). The clean set is generated exactly as before. The tables
then show recall clean and dirty per S/N bin, the dirty/clean recall ratio, and per set:
false positives (also per 2**20 channels), duplicates, broadband hits (hits matching no
tone that lie on a feature's extent: ideally one per feature, not false positives) and
hits on the DC bin (counted as false positives too).

A hit matches a tone when its straight path lies within (3 + smear/2 + boxcar/2) channels
of the tone's track at both the first and the last spectrum (same rule for both tools; a
hit whose boxcar is 500 Hz or wider is a broadband detection and matches no tone);
it lies on a broadband feature when both ends of its path fall inside the feature's
extent (down to 1 % of its peak, over the whole observation) widened by the same margin.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TURBO_VENV = HERE / ".turboseti-venv"
SNR_BINS = [(8, 15), (15, 25), (25, 35), (35, 50.001)]
DRIFT_BINS = [(0, 1), (1, 2), (2, 3), (3, 4.001)]


def dirty_impairments(rng: np.random.Generator, header):
    """The dirty receiver of file ``header``: GBT-like PFB bandpass (edges at 0.33 of the
    centre) over the file's one coarse channel, a DC spike 10x the local mean, and eight
    broadband interferers, FWHM log-uniform 2-30 kHz, away from each other, the DC bin and
    the band edges."""
    from mitraseti.synth import (BANDPASS_FAMILIES, BroadbandRFI, DCSpikes, Impairments,
                                 RFI_SHAPES)

    nchans, df = header.nchans, header.df_hz
    span_s = header.n_spectra * header.dt_s
    behaviours = [{}, {"on_fraction": 0.5, "burst_spectra": 2.0},
                  {"drift_rate": 1.0}, {"modulation": 0.7, "modulation_period_s": 0.8 * span_s}]
    slots = np.linspace(0.05 * nchans, 0.95 * nchans, 9)
    features = []
    for k in range(8):
        width = float(np.exp(rng.uniform(np.log(2e3), np.log(30e3))))
        half = 0.7 * width / df + 64
        lo, hi = slots[k] + half, slots[k + 1] - half
        if hi < lo:  # a small band: features may overlap
            lo = hi = 0.5 * (slots[k] + slots[k + 1])
        centre = float(rng.uniform(lo, hi))
        if abs(centre - nchans // 2) < half + 64:  # keep the DC bin clear
            centre = lo if abs(lo - nchans // 2) > abs(hi - nchans // 2) else hi
        kw = dict(behaviours[k % 4])
        if "drift_rate" in kw:
            kw["drift_rate"] = float(rng.uniform(0.5, 4.0) * rng.choice([-1, 1]))
        if "modulation_phase" not in kw and "modulation" in kw:
            kw["modulation_phase"] = float(rng.uniform(0, 2 * np.pi))
        features.append(BroadbandRFI(channel=centre, width_hz=width, shape=RFI_SHAPES[k % 4],
                                     amplitude=float(np.exp(rng.uniform(np.log(0.3), np.log(3.0)))),
                                     skew=int(rng.choice([-1, 1])), **kw))
    bandpass = replace(BANDPASS_FAMILIES["gbt_pfb"], edge_level=0.33, coarse_scatter=0.0, nfpc=nchans)
    return Impairments(bandpass=bandpass, dc_spikes=DCSpikes(amplitude=10.0), broadband=features)


def generate(out_dir: Path, n_files: int, n_signals: int, nchans: int, seed: int,
             suffix: str = ".h5", dirty: bool = False):
    """Write the observations; returns [(path, header, truth dicts, broadband extents, DC
    channels)]. ``dirty``: the same tones and noise through :func:`dirty_impairments`."""
    from mitraseti.synth import NarrowbandSignal, NoiseModel, make_header, make_observation

    noise = NoiseModel(kind="chi2", dof=16, mean=1.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for f in range(n_files):
        rng = np.random.default_rng([seed, f])
        margin, n_t = 2048, 16
        slots = np.linspace(margin, nchans - margin, n_signals + 1)
        spacing = slots[1] - slots[0]
        chans = slots[:-1] + spacing * (0.25 + 0.5 * rng.random(n_signals))
        # keep clear of the DC bin (blanked by both tools)
        chans = np.where(np.abs(chans - nchans // 2) < 64, chans + 256, chans)
        snrs = rng.uniform(8, 50, n_signals)
        drifts = rng.uniform(-4, 4, n_signals)
        level = snrs * noise.pixel_std / np.sqrt(n_t)
        signals = [NarrowbandSignal(channel=float(c), drift_rate=float(d), level=float(lv),
                                    snr=None, width=1.0, profile="gaussian")
                   for c, d, lv in zip(chans, drifts, level)]
        impairments = None
        if dirty:
            header = make_header(n_spectra=n_t, n_chans=nchans, source_name=f"bench{f}")
            impairments = dirty_impairments(np.random.default_rng([seed, f, 1]), header)
        obs = make_observation(n_spectra=n_t, n_chans=nchans, noise=noise, signals=signals,
                               seed=int(rng.integers(2**31)), source_name=f"bench{f}",
                               impairments=impairments)
        path = out_dir / f"{'dirty' if dirty else 'smeared'}_{f}{suffix}"
        obs.write(path)
        truth = [{"frequency_hz": s.frequency_hz, "drift_rate": s.drift_rate,
                  "snr_nominal": float(n), "snr_path": s.snr, "channel": s.channel,
                  "local_gain": s.local_gain, "local_noise_factor": s.local_noise_factor}
                 for s, n in zip(obs.truth, snrs)]
        record = obs.impairment_truth
        features = [(r["freq_lo_hz"], r["freq_hi_hz"]) for r in record.rfi] if record else []
        dc = record.dc_channels if record else []
        made.append((path, obs.header, truth, features, dc))
        del obs
    return made


def ensure_turboseti() -> Path:
    py = TURBO_VENV / "bin" / "python"
    if not (TURBO_VENV / "bin" / "turboSETI").exists():
        print("creating", TURBO_VENV, "(a few minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TURBO_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "numpy<2", "turbo-seti==2.3.2"],
                       check=True)
    return py


def run_measured(cmd: list[str]) -> tuple[list[dict], float]:
    """Run a runner; returns (its JSON lines, that child's own peak RSS in MiB, os.wait4)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed with exit code {proc.returncode}")
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    return lines, usage.ru_maxrss / 1024.0


def match(hits: list[dict], truth: list[dict], header, features=(), dc_channels=()) -> dict:
    """Classify hits: ``found`` (matched flag per tone), ``fp`` (hits matching no tone and
    no broadband feature, DC-bin hits included), ``dup`` (further hits on matched tones),
    ``bb`` (broadband hits per feature), ``dc`` (hits on a DC bin; also in ``fp``)."""
    df, dt = header.df_hz, header.tsamp
    t_end = (header.n_spectra - 1) * dt
    f0 = np.array([s["frequency_hz"] for s in truth])
    d0 = np.array([s["drift_rate"] for s in truth])
    tol = df * (3 + 0.5 * np.abs(d0) * dt / df)
    dc_hz = np.array([header.channel_frequency_hz(c) for c in dc_channels])
    found = np.zeros(len(truth), dtype=bool)
    out = {"fp": 0, "dup": 0, "dc": 0, "bb": np.zeros(len(features), dtype=int)}
    for h in hits:
        tol_h = tol + 0.5 * df * h.get("boxcar_width", 1)
        f_start, f_end = h["frequency_hz"], h["frequency_hz"] + h["drift_rate"] * t_end
        ok = (np.abs(f_start - f0) <= tol_h) & (np.abs(f_end - f0 - d0 * t_end) <= tol_h)
        if h.get("boxcar_width", 1) * df >= 500.0:  # a broadband detection finds no tone
            ok[:] = False
        if ok.any():
            out["dup"] += int(found[ok].all())
            found |= ok
            continue
        margin = df * (3 + 0.5 * h.get("boxcar_width", 1))
        on = [k for k, (lo, hi) in enumerate(features)
              if lo - margin <= min(f_start, f_end) and max(f_start, f_end) <= hi + margin]
        if on:
            out["bb"][on[0]] += 1
            continue
        out["fp"] += 1
        if dc_hz.size and np.any((np.abs(f_start - dc_hz) <= margin) & (np.abs(f_end - dc_hz) <= margin)):
            out["dc"] += 1
    out["found"] = found
    return out


def recall_rows(found: np.ndarray, values: np.ndarray, bins) -> list[tuple[str, int, int]]:
    rows = []
    for lo, hi in bins:
        sel = (values >= lo) & (values < hi)
        rows.append((f"{lo:g}-{min(hi, 50 if hi > 5 else 4):g}", int(found[sel].sum()),
                     int(sel.sum())))
    return rows


def summarise(lines: list[dict], rss: float, made: list) -> dict:
    """Per-set metrics of one tool from its runner lines and the generated files."""
    truth = [t for _, _, tr, _, _ in made for t in tr]
    snr_nom = np.array([t["snr_nominal"] for t in truth])
    drift_abs = np.array([abs(t["drift_rate"]) for t in truth])
    clear = np.array([t["local_noise_factor"] <= 1.001 for t in truth])
    found_all, bb_all, times, cpus = [], [], [], []
    out = {"fp": 0, "dup": 0, "dc": 0}
    for (path, header, tr, features, dc), line in zip(made, lines):
        assert line["file"] == str(path), (line["file"], path)
        res = match(line["hits"], tr, header, features, dc)
        found_all.append(res["found"])
        bb_all.append(res["bb"])
        for key in out:
            out[key] += res[key]
        times.append(line["search_s"])
        cpus.append(line["search_cpu_s"])
    found = np.concatenate(found_all)
    bb = np.concatenate(bb_all)
    n_chans = sum(h.nchans for _, h, _, _, _ in made)
    out.update(time=float(np.median(times)), cpu=float(np.median(cpus)), rss=rss, found=found,
               n_truth=len(truth), clear=clear, bb=bb, fp_per_mchan=out["fp"] / (n_chans / 2**20),
               snr=recall_rows(found, snr_nom, SNR_BINS),
               drift=recall_rows(found, drift_abs, DRIFT_BINS))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-files", type=int, default=3)
    ap.add_argument("--n-signals", type=int, default=40)
    ap.add_argument("--nchans", type=int, default=2**20)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--max-drift", type=float, default=4.0)
    ap.add_argument("--snr", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "turboseti")
    ap.add_argument("--format", choices=["h5", "fil"], default="h5",
                    help="file format both tools read (turboSETI converts .fil to .h5 itself)")
    ap.add_argument("--set", choices=["clean", "dirty", "both"], default="both",
                    help="clean tones, the same tones through a dirty receiver, or both")
    ap.add_argument("--skip-turboseti", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sets = ["clean", "dirty"] if args.set == "both" else [args.set]

    t = time.perf_counter()
    suffix = "." + args.format
    made = {name: generate(args.out, args.n_files, args.n_signals, args.nchans, args.seed,
                           suffix, dirty=name == "dirty") for name in sets}
    warm = generate(args.out / "warmup", 1, 4, 1 << 17, args.seed + 1, suffix)[0][0]
    print(f"generated {sum(len(m) for m in made.values())} files in "
          f"{time.perf_counter() - t:.1f} s", flush=True)

    results = {}
    for name in sets:
        files = [str(p) for p, *_ in made[name]]
        results[("MitraSETI", name)] = run_measured(
            [sys.executable, str(HERE / "search_runner.py"), str(args.max_drift), str(args.snr),
             str(warm)] + files)
    if not args.skip_turboseti:
        turbo_py = ensure_turboseti()
        for name in sets:
            files = [str(p) for p, *_ in made[name]]
            results[("turboSETI", name)] = run_measured(
                [str(turbo_py), str(HERE / "turboseti_runner.py"), str(args.out / "dat"),
                 str(args.max_drift), str(args.snr), str(warm)] + files)

    table = {key: summarise(lines, rss, made[key[1]]) for key, (lines, rss) in results.items()}
    (args.out / "results.json").write_text(json.dumps(
        {" ".join(k): {"lines": v[0], "peak_rss_mib": v[1]} for k, v in results.items()}, indent=1))
    (args.out / "truth.json").write_text(json.dumps(
        {name: {"tones": [t for _, _, tr, _, _ in made[name] for t in tr],
                "broadband_hz": [list(f) for *_, feats, _ in made[name] for f in feats]}
         for name in sets}, indent=1))
    print_table(table, args)
    return 0


W = 17


def _row(label: str, cols: list, fmt) -> None:
    print(label.ljust(26) + "".join((fmt(c) if c is not None else "-").rjust(W) for c in cols))


def print_table(table: dict, args) -> None:
    keys = list(table)
    cols = [table[k] for k in keys]
    first = cols[0]
    print(f"\n{first['n_truth']} injected tones per set in {args.n_files} files of "
          f"{args.nchans} x 16; max_drift {args.max_drift} Hz/s, snr {args.snr}")
    if any(k[1] == "dirty" for k in keys):
        dirty = next(table[k] for k in keys if k[1] == "dirty")
        print(f"dirty: PFB bandpass (edges 0.33), DC spike 10x mean, {dirty['bb'].size} broadband "
              f"features 2-30 kHz; {int((~dirty['clear']).sum())} tones lie under a feature")
    print("metric".ljust(26) + "".join(" ".join(k).rjust(W) for k in keys))
    _row("search wall / file (s)", [c["time"] for c in cols], lambda v: f"{v:.2f}")
    _row("search CPU / file (s)", [c["cpu"] for c in cols], lambda v: f"{v:.2f}")
    _row("peak RSS (MiB)", [c["rss"] for c in cols], lambda v: f"{v:.0f}")
    for key, label in (("snr", "recall S/N "), ("drift", "recall |drift| ")):
        for i, (rng, _, total) in enumerate(first[key]):
            _row(f"{label}{rng}", [c[key][i] for c in cols], lambda r: f"{r[1]}/{r[2]}")
    _row("recall overall", cols, lambda c: f"{int(c['found'].sum())}/{c['n_truth']}")
    _row("recall, tones off RFI", cols,
         lambda c: f"{int(c['found'][c['clear']].sum())}/{int(c['clear'].sum())}")
    for i, (rng, _, _) in enumerate(first["snr"]):
        _row(f"dirty/clean S/N {rng}", [_ratio(table, k, "snr", i) for k in keys], lambda v: f"{v:.2f}")
    _row("dirty/clean overall", [_ratio(table, k, None, 0) for k in keys], lambda v: f"{v:.2f}")
    _row("false positives", [c["fp"] for c in cols], str)
    _row("  FP per 2**20 channels", [c["fp_per_mchan"] for c in cols], lambda v: f"{v:.1f}")
    _row("  of which on a DC bin", [c["dc"] for c in cols], str)
    _row("duplicates", [c["dup"] for c in cols], str)
    bb = [c if c["bb"].size else None for c in cols]
    _row("broadband hits", bb, lambda c: str(int(c["bb"].sum())))
    _row("  features hit (ideal all)", bb, lambda c: f"{int((c['bb'] > 0).sum())}/{c['bb'].size}")
    _row("  features hit once", bb, lambda c: f"{int((c['bb'] == 1).sum())}/{c['bb'].size}")
    _row("  hits / feature", bb, lambda c: f"{c['bb'].mean():.1f}")
    for name in ("clean", "dirty"):
        m, t = table.get(("MitraSETI", name)), table.get(("turboSETI", name))
        if m and t:
            print(f"{name}: speed-up {t['time'] / m['time']:.1f}x wall, "
                  f"{t['cpu'] / m['cpu']:.1f}x CPU; recall ratio "
                  f"{m['found'].sum() / max(1, t['found'].sum()):.2f}; "
                  f"RSS ratio {m['rss'] / t['rss']:.2f}")


def _ratio(table: dict, key: tuple, metric: str | None, i: int):
    """Dirty/clean recall of ``key``'s tool (shown in its dirty column), or None."""
    clean = table.get((key[0], "clean"))
    if key[1] != "dirty" or clean is None:
        return None
    dirty = table[key]
    if metric is None:
        num, den = dirty["found"].sum(), clean["found"].sum()
    else:
        num, den = dirty[metric][i][1], clean[metric][i][1]
    return num / den if den else float("nan")


if __name__ == "__main__":
    sys.exit(main())
