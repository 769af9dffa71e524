"""Command-line start-up time and batch throughput of ``mitraseti``.

Every measurement runs in a fresh process:

* ``mitraseti --help`` and ``mitraseti analyze --help``: median wall time of 5 runs (s);
* ``mitraseti analyze FOLDER --jobs J -q`` on N synthetic observations (16 spectra x 2**20
  channels, one drifting tone each, seeded), for J = 1 and 2: wall time and files per hour.

The observations are written to ``benchmarks/out/bench_cli/`` (git-ignored) and removed at
the end unless ``--keep``. One untimed single-file run first warms numba's on-disk cache.

Usage: ``python benchmarks/bench_cli.py [--files 4] [--repeats 5] [--jobs 1 2] [--keep]``;
``--quick`` is a small run (2 files of 16 x 2**18, 3 repeats). Numbers depend on the machine
and its load; nothing here asserts them.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "bench_cli"


def cli_command() -> list[str]:
    """The installed ``mitraseti`` script next to this Python, else ``python -m``."""
    script = Path(sys.executable).with_name("mitraseti")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "mitraseti.cli"]


def wall_time(argv: list[str], cwd: Path | None = None) -> float:
    """Seconds one fresh process takes; raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return elapsed


def make_inputs(folder: Path, n_files: int, n_chans: int) -> list[Path]:
    """``n_files`` seeded observations (16 spectra x n_chans, one tone each), in a child
    process so this one stays free of numpy."""
    folder.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from mitraseti.synth import NarrowbandSignal, make_observation\n"
        "folder, n, nchan = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])\n"
        "for i in range(n):\n"
        "    tone = NarrowbandSignal(channel=nchan * (i + 1) / (n + 2) + 0.3, drift_rate=0.5,"
        " snr=30)\n"
        "    make_observation(n_spectra=16, n_chans=nchan, seed=100 + i,"
        " signals=[tone]).write(folder / f'bench{i}.fil')\n")
    subprocess.run([sys.executable, "-c", code, str(folder), str(n_files), str(n_chans)],
                   check=True)
    return sorted(folder.glob("bench*.fil"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=4, help="observations in the batch")
    ap.add_argument("--nchan", type=int, default=2 ** 20, help="channels per observation")
    ap.add_argument("--repeats", type=int, default=5, help="runs per --help timing")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="--jobs values")
    ap.add_argument("--quick", action="store_true", help="2 files of 2**18 channels, 3 runs")
    ap.add_argument("--keep", action="store_true", help="keep benchmarks/out/bench_cli/")
    args = ap.parse_args()
    if args.quick:
        args.files, args.nchan, args.repeats = 2, 2 ** 18, 3
    cli = cli_command()
    print(f"command: {' '.join(cli)}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}")
    for extra in ([], ["analyze"]):
        times = [wall_time(cli + extra + ["--help"]) for _ in range(args.repeats)]
        print(f"mitraseti {' '.join(extra + ['--help'])}: median {statistics.median(times):.3f} s"
              f" (min {min(times):.3f}, max {max(times):.3f}, {args.repeats} runs)")

    shutil.rmtree(OUT, ignore_errors=True)
    t0 = time.perf_counter()
    files = make_inputs(OUT / "inputs", args.files, args.nchan)
    print(f"wrote {len(files)} observations of 16 x {args.nchan} channels in "
          f"{time.perf_counter() - t0:.1f} s")
    warm = wall_time(cli + ["analyze", str(files[0]), "--out", str(OUT / "warmup"), "-q"])
    print(f"warm-up single-file run: {warm:.2f} s")
    for jobs in args.jobs:
        out = OUT / f"jobs{jobs}"
        seconds = wall_time(cli + ["analyze", str(OUT / "inputs"), "--out", str(out),
                                   "--jobs", str(jobs), "-q"])
        print(f"analyze {len(files)} files --jobs {jobs}: {seconds:.2f} s, "
              f"{len(files) / seconds * 3600:.0f} files/hour")
    if not args.keep:
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
