"""Whole process, as a user runs it: `mitraseti analyze` against turboSETI's CLI.

    .venv/bin/python benchmarks/compare_cli.py [--repeat 3] [--nchans 1048576]

Generates one Voyager-like observation (compare_turboseti.py's clean file: 2**20 x 16,
40 smeared tones; ``--dirty`` takes the dirty one), then runs, each in a fresh process and
alternating, ``--repeat`` times:

* ``mitraseti analyze FILE --out DIR`` (every export: results.json, CSV, JSON, FITS,
  turboSETI .dat, waterfall, thumbnail, stamps);
* ``turboSETI FILE -M 4 -s 10 -o DIR -n 1`` from benchmarks/.turboseti-venv (its own
  whole command: search and .dat/.log output).

Prints the median wall time and peak RSS of each child (os.wait4), the speed-up, and the
per-stage seconds MitraSETI writes into results.json. A first untimed run of each warms
the numba caches, as a user's second run would find them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compare_turboseti import ensure_turboseti, generate  # noqa: E402


def measured(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024.0


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nchans", type=int, default=2**20)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--dirty", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "cli")
    ap.add_argument("--skip-turboseti", action="store_true")
    args = ap.parse_args(argv)

    path = generate(args.out, 1, 40, args.nchans, args.seed, dirty=args.dirty)[0][0]
    mitra = [str(Path(sys.executable).parent / "mitraseti"), "analyze", str(path),
             "--out", str(args.out / "mitraseti")]
    tools = {"MitraSETI analyze": mitra}
    if not args.skip_turboseti:
        py = ensure_turboseti()
        tools["turboSETI CLI"] = [str(py.parent / "turboSETI"), str(path), "-M", "4",
                                  "-s", "10", "-o", str(args.out / "turboseti"), "-n", "1"]
    runs = {name: [] for name in tools}
    (args.out / "turboseti").mkdir(parents=True, exist_ok=True)
    for name, cmd in tools.items():  # warm caches (numba), not timed
        measured(cmd)
    for _ in range(args.repeat):
        for name, cmd in tools.items():
            shutil.rmtree(args.out / "turboseti", ignore_errors=True)
            (args.out / "turboseti").mkdir(parents=True, exist_ok=True)
            runs[name].append(measured(cmd))
    print(f"\n{path.name}: {args.nchans} x 16, whole command, median of {args.repeat} "
          "fresh processes")
    print("tool".ljust(22) + "wall (s)".rjust(10) + "peak RSS (MiB)".rjust(16))
    for name, rs in runs.items():
        print(name.ljust(22) + f"{median([r[0] for r in rs]):.2f}".rjust(10)
              + f"{median([r[1] for r in rs]):.0f}".rjust(16))
    if len(runs) == 2:
        m, t = (median([r[0] for r in rs]) for rs in runs.values())
        print(f"speed-up: {t / m:.1f}x")
    res = json.loads((args.out / "mitraseti" / "results.json").read_text())
    stages = res.get("processing_time_breakdown") or res.get("timings") or {}
    if stages:
        print("MitraSETI stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()
                                                  if isinstance(v, (int, float))))
    if res.get("peak_rss_mb"):
        print("MitraSETI peak RSS after each stage (MiB): "
              + ", ".join(f"{k} {v:.0f}" for k, v in res["peak_rss_mb"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
