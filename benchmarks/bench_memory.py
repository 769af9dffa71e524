"""Peak memory and wall time of reading and searching a large filterbank within a budget.

Writes a ~4 GiB SIGPROC file (default 16 spectra x 64 coarse x 2**20 fine channels of
2.79 Hz, float32, GBT; SIGPROC stores no ``nfpc``) under ``benchmarks/out/`` (git-ignored),
then runs each case in a fresh child process and prints its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and wall time, one JSON line per case:

* ``baseline``: imports only (numpy, h5py, mitraseti.io, mitraseti.search);
* ``iterate``: ``open_observation(n_coarse_chan=64)`` + ``iter_coarse_channels``, with the
  time-summed spectrum and its peak-over-median per coarse channel;
* ``search-<split>-w<N>``: ``search_observation`` over the whole file with ``N`` worker
  threads and the memory budget (``--budget-mb``, default 512), where ``<split>`` is
  ``nfpc`` (``n_coarse_chan=64`` given, as a file ``nfpc`` would), ``inferred`` (nothing
  given: the coarse channels come from the known-product rules) or ``oneband``
  (``n_coarse_chan=1``: one 2**26-channel coarse channel, searched in overlapping
  sub-blocks). Each prints its plan (blocks, workers), the search's own timings
  (``read_s``, ``wait_s``, stage sums over threads) and the hits per injected tone; the
  time excludes loading the compiled kernels (a tiny search runs first).

Then a summary: seconds and peak RSS per case and the 1 -> 2 worker speed-up per split.

Usage: ``python benchmarks/bench_memory.py [--n-spectra 16] [--n-coarse 64]
[--nfpc 1048576] [--path benchmarks/out/bench_memory.fil] [--budget-mb 512]
[--cases baseline,iterate,search-nfpc-w1,...] [--keep]``. The file is deleted at the end
unless ``--keep`` (an existing file of the right size is reused). Numbers depend on the
machine; nothing here asserts them.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent / "out" / "bench_memory.fil"
TONE_COARSE = (0, 17, 42)  # coarse channels that get a drifting tone
SPLITS = {"nfpc": "n_coarse", "inferred": None, "oneband": 1}   # -> n_coarse_chan
CASES = ["baseline", "iterate"] + [f"search-{s}-w{w}" for s in SPLITS for w in (1, 2)]


def peak_rss_mib() -> float:
    """Peak RSS of this process in MiB (getrusage; KiB on Linux). Linux carries the
    parent's peak across fork + exec, so the parent of the measuring children stays lean:
    even the file is written in a child."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def vm_hwm_mib() -> float | None:
    """Peak RSS from /proc/self/status (VmHWM, this process image only), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def write_file(path: Path, n_spectra: int, n_coarse: int, nfpc: int) -> float:
    """Write the test file one spectrum at a time; returns seconds taken."""
    import numpy as np

    from mitraseti.io import FilWriter, ObservationHeader

    header = ObservationHeader(nchans=n_coarse * nfpc, fch1=8000.0, foff=-2.7939677238464355e-06,
                               tsamp=18.253611008, n_spectra=n_spectra, nbits=32,
                               source_name="BENCH_MEMORY", telescope_id=6, machine_id=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    start = time.perf_counter()
    with FilWriter(path, header) as w:
        for t in range(n_spectra):
            row = rng.standard_normal(header.nchans, dtype=np.float32)
            row += 10.0
            for c in TONE_COARSE:
                if c < n_coarse:  # drifts +3 fine channels per spectrum, S/N ~ 25 per pixel
                    row[c * nfpc + nfpc // 3 + 3 * t] += 25.0
            w.write(row[None, :])
            del row
    return time.perf_counter() - start


def measure_iterate(path: Path, n_coarse: int) -> dict:
    import numpy as np

    from mitraseti.io import open_observation

    start = time.perf_counter()
    peaks = []
    with open_observation(path, n_coarse_chan=n_coarse) as obs:
        for _, block in obs.iter_coarse_channels():
            spectrum = block.sum(axis=0)
            peaks.append(float(spectrum.max() - np.median(spectrum)))
            del block
        size = obs.header.n_spectra * obs.header.nchans * 4
    elapsed = time.perf_counter() - start
    strongest = sorted(range(len(peaks)), key=peaks.__getitem__)[-len(TONE_COARSE):]
    return {"seconds": elapsed, "gib_per_s": size / 2**30 / elapsed,
            "coarse_with_strongest_peaks": sorted(strongest)}


def warm_up() -> None:
    """Load the search's compiled kernels (numba cache) before timing: one tiny search."""
    import numpy as np

    from mitraseti.io import ObservationHeader
    from mitraseti.search import search_coarse_channel

    h = ObservationHeader(nchans=4096, fch1=8000.0, foff=-2.7939677238464355e-06,
                          tsamp=18.253611008, n_spectra=16)
    block = np.random.default_rng(0).standard_normal((16, 4096), dtype=np.float32) + 10
    search_coarse_channel(block, h)


def measure_search(path: Path, split: str, workers: int, n_coarse: int, nfpc: int,
                   budget_mb: float) -> dict:
    from mitraseti.io import open_observation
    from mitraseti.search import SearchParams, search_observation

    n_coarse_chan = SPLITS[split]
    n_coarse_chan = n_coarse if n_coarse_chan == "n_coarse" else n_coarse_chan
    warm_up()
    start = time.perf_counter()
    with open_observation(path, n_coarse_chan=n_coarse_chan) as obs:
        result = search_observation(obs, SearchParams(max_drift=4.0, snr=10.0),
                                    memory_budget_mb=budget_mb, workers=workers)
    seconds = time.perf_counter() - start
    tones = [c * nfpc + nfpc // 3 for c in TONE_COARSE if c < n_coarse]
    found = [sum(abs(h.channel_index - c) <= 2 for h in result.filtered_hits) for c in tones]
    timings = {k: round(v, 2) for k, v in result.timings.items() if k.endswith("_s")}
    return {"seconds": seconds, "coarse_channels": result.coarse_channels,
            "plan": result.plan, "timings": timings, "raw_hits": len(result.raw_hits),
            "filtered_hits": len(result.filtered_hits), "hits_per_tone": found}


def child(mode: str, args) -> None:
    import h5py  # noqa: F401  (same imports as a real run)
    import numpy  # noqa: F401

    import mitraseti.io  # noqa: F401
    import mitraseti.search  # noqa: F401
    out: dict = {"mode": mode}
    if mode == "write":
        out["seconds"] = write_file(args.path, args.n_spectra, args.n_coarse, args.nfpc)
    elif mode == "iterate":
        out.update(measure_iterate(args.path, args.n_coarse))
    elif mode.startswith("search-"):
        _, split, workers = mode.split("-")
        out.update(measure_search(args.path, split, int(workers[1:]), args.n_coarse,
                                  args.nfpc, args.budget_mb))
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    out["vm_hwm_mib"] = vm_hwm_mib()
    print(json.dumps(out))


def run_child(mode: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--path", str(args.path),
           "--n-spectra", str(args.n_spectra), "--n-coarse", str(args.n_coarse),
           "--nfpc", str(args.nfpc), "--budget-mb", str(args.budget_mb)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"mode": mode, "error": done.stderr.strip()[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_summary(results: list[dict]) -> None:
    print("\ncase                   seconds   peak RSS MiB   blocks  workers")
    by_mode = {r["mode"]: r for r in results}
    for r in results:
        plan = r.get("plan", {})
        print(f"{r['mode']:<22} {r.get('seconds', float('nan')):8.1f}   "
              f"{r.get('peak_rss_mib', float('nan')):12.0f}   {plan.get('n_blocks', ''):>6}  "
              f"{plan.get('workers', ''):>7}")
    for split in SPLITS:
        one, two = by_mode.get(f"search-{split}-w1"), by_mode.get(f"search-{split}-w2")
        if one and two and "seconds" in one and "seconds" in two:
            print(f"{split}: 1 -> 2 workers {one['seconds']:.1f} s -> {two['seconds']:.1f} s "
                  f"(x{one['seconds'] / two['seconds']:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-spectra", type=int, default=16)
    ap.add_argument("--n-coarse", type=int, default=64)
    ap.add_argument("--nfpc", type=int, default=1 << 20)
    ap.add_argument("--path", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--budget-mb", type=float, default=512.0,
                    help="search memory budget, MiB (default 512)")
    ap.add_argument("--cases", default=",".join(CASES),
                    help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args)
        return
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        ap.error(f"unknown case(s) {unknown}: expected some of {CASES}")
    size = args.n_spectra * args.n_coarse * args.nfpc * 4
    print(f"file: {args.path} ({args.n_spectra} spectra x {args.n_coarse} coarse x "
          f"{args.nfpc} fine, float32 = {size / 2**30:.2f} GiB of data); "
          f"budget {args.budget_mb:g} MiB; {os.cpu_count()} CPUs")
    if not args.path.exists() or args.path.stat().st_size < size:
        print(json.dumps(run_child("write", args)))
    print(f"one coarse channel = {args.n_spectra * args.nfpc * 4 / 2**20:.0f} MiB")
    results = []
    try:
        for mode in cases:
            results.append(run_child(mode, args))
            print(json.dumps(results[-1]), flush=True)
    finally:
        if not args.keep:
            os.unlink(args.path)
    print_summary(results)


if __name__ == "__main__":
    main()
