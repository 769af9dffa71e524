"""MitraSETI vs turboSETI 2.3.2 on the same seeded, Doppler-smeared observations.

    .venv/bin/python benchmarks/compare_turboseti.py [--n-files 3] [--n-signals 40]

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

A hit matches a tone when its straight path lies within (3 + smear/2 + boxcar/2) channels
of the tone's track at both the first and the last spectrum (same rule for both tools).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TURBO_VENV = HERE / ".turboseti-venv"
SNR_BINS = [(8, 15), (15, 25), (25, 35), (35, 50.001)]
DRIFT_BINS = [(0, 1), (1, 2), (2, 3), (3, 4.001)]


def generate(out_dir: Path, n_files: int, n_signals: int, nchans: int, seed: int,
             suffix: str = ".h5"):
    """Write the observations; returns [(path, header, truth dicts)]."""
    from mitraseti.synth import NarrowbandSignal, NoiseModel, make_observation

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
        obs = make_observation(n_spectra=n_t, n_chans=nchans, noise=noise, signals=signals,
                               seed=int(rng.integers(2**31)), source_name=f"bench{f}")
        path = out_dir / f"smeared_{f}{suffix}"
        obs.write(path)
        truth = [{"frequency_hz": s.frequency_hz, "drift_rate": s.drift_rate,
                  "snr_nominal": float(n), "snr_path": s.snr, "channel": s.channel}
                 for s, n in zip(obs.truth, snrs)]
        made.append((path, obs.header, truth))
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


def match(hits: list[dict], truth: list[dict], header) -> tuple[np.ndarray, int, int]:
    """(matched flag per tone, false positives, duplicates)."""
    df, dt = header.df_hz, header.tsamp
    t_end = (header.n_spectra - 1) * dt
    f0 = np.array([s["frequency_hz"] for s in truth])
    d0 = np.array([s["drift_rate"] for s in truth])
    tol = df * (3 + 0.5 * np.abs(d0) * dt / df)
    found = np.zeros(len(truth), dtype=bool)
    fp = dup = 0
    for h in hits:
        tol_h = tol + 0.5 * df * h.get("boxcar_width", 1)
        ok = ((np.abs(h["frequency_hz"] - f0) <= tol_h)
              & (np.abs(h["frequency_hz"] + h["drift_rate"] * t_end - f0 - d0 * t_end) <= tol_h))
        if not ok.any():
            fp += 1
        elif found[ok].all():
            dup += 1
        found |= ok
    return found, fp, dup


def recall_rows(found: np.ndarray, values: np.ndarray, bins) -> list[tuple[str, int, int]]:
    rows = []
    for lo, hi in bins:
        sel = (values >= lo) & (values < hi)
        rows.append((f"{lo:g}-{min(hi, 50 if hi > 5 else 4):g}", int(found[sel].sum()),
                     int(sel.sum())))
    return rows


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
    ap.add_argument("--skip-turboseti", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    t = time.perf_counter()
    suffix = "." + args.format
    made = generate(args.out, args.n_files, args.n_signals, args.nchans, args.seed, suffix)
    warm = generate(args.out / "warmup", 1, 4, 1 << 17, args.seed + 1, suffix)[0][0]
    print(f"generated {len(made)} files in {time.perf_counter() - t:.1f} s", flush=True)
    files = [str(p) for p, _, _ in made]

    results = {}
    mitra_py = sys.executable
    results["MitraSETI"] = run_measured(
        [mitra_py, str(HERE / "search_runner.py"), str(args.max_drift), str(args.snr),
         str(warm)] + files)
    if not args.skip_turboseti:
        turbo_py = ensure_turboseti()
        results["turboSETI"] = run_measured(
            [str(turbo_py), str(HERE / "turboseti_runner.py"), str(args.out / "dat"),
             str(args.max_drift), str(args.snr), str(warm)] + files)

    truth = [s for _, _, tr in made for s in tr]
    snr_nom = np.array([s["snr_nominal"] for s in truth])
    drift_abs = np.array([abs(s["drift_rate"]) for s in truth])
    table = {}
    for name, (lines, rss) in results.items():
        found_all, fp_all, dup_all, times, cpus = [], 0, 0, [], []
        for (path, header, tr), line in zip(made, lines):
            found, fp, dup = match(line["hits"], tr, header)
            found_all.append(found)
            fp_all += fp
            dup_all += dup
            times.append(line["search_s"])
            cpus.append(line["search_cpu_s"])
        found = np.concatenate(found_all)
        table[name] = dict(time=float(np.median(times)), cpu=float(np.median(cpus)), rss=rss, found=found, fp=fp_all,
                           dup=dup_all, snr=recall_rows(found, snr_nom, SNR_BINS),
                           drift=recall_rows(found, drift_abs, DRIFT_BINS))
    (args.out / "results.json").write_text(json.dumps(
        {k: {"lines": v[0], "peak_rss_mib": v[1]} for k, v in results.items()}, indent=1))
    (args.out / "truth.json").write_text(json.dumps(truth, indent=1))
    print_table(table, len(truth), args)
    return 0


def print_table(table: dict, n_truth: int, args) -> None:
    names = list(table)
    w = 16
    print(f"\n{len(table[names[0]]['found'])} injected tones in {args.n_files} files of "
          f"{args.nchans} x 16; max_drift {args.max_drift} Hz/s, snr {args.snr}")
    print("metric".ljust(24) + "".join(n.rjust(w) for n in names))
    print("search wall / file (s)".ljust(24)
          + "".join(f"{table[n]['time']:.2f}".rjust(w) for n in names))
    print("search CPU / file (s)".ljust(24)
          + "".join(f"{table[n]['cpu']:.2f}".rjust(w) for n in names))
    print("peak RSS (MiB)".ljust(24) + "".join(f"{table[n]['rss']:.0f}".rjust(w) for n in names))
    for key, label in (("snr", "recall S/N "), ("drift", "recall |drift| ")):
        for i, (rng, _, total) in enumerate(table[names[0]][key]):
            print(f"{label}{rng}".ljust(24)
                  + "".join(f"{table[n][key][i][1]}/{total}".rjust(w) for n in names))
    print("recall overall".ljust(24)
          + "".join(f"{int(table[n]['found'].sum())}/{n_truth}".rjust(w) for n in names))
    print("false positives".ljust(24) + "".join(f"{table[n]['fp']}".rjust(w) for n in names))
    print("duplicates".ljust(24) + "".join(f"{table[n]['dup']}".rjust(w) for n in names))
    if len(names) == 2:
        m, t = table["MitraSETI"], table["turboSETI"]
        print(f"\nspeed-up {t['time'] / m['time']:.1f}x wall, {t['cpu'] / m['cpu']:.1f}x CPU; "
              f"recall ratio "
              f"{m['found'].sum() / max(1, t['found'].sum()):.2f}; "
              f"RSS ratio {m['rss'] / t['rss']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
