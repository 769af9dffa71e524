"""Peak memory of reading (and searching) a large filterbank one coarse channel at a time.

Writes a ~4 GiB SIGPROC file (default 16 spectra x 64 coarse x 2**20 fine channels,
float32) in chunks to /tmp, then runs each measurement in a fresh child process and prints
its peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and wall time:

* ``baseline``: imports only (numpy, h5py, mitraseti.io);
* ``iterate``: ``open_observation`` + ``iter_coarse_channels``, computing the time-summed
  spectrum and its peak-over-median per coarse channel;
* ``search``: ``mitraseti.search.search_observation`` over the whole file, when importable.

Usage: ``python benchmarks/bench_memory.py [--n-spectra 16] [--n-coarse 64]
[--nfpc 1048576] [--path /tmp/...fil] [--keep] [--no-search]``. The file is deleted at the
end unless ``--keep``. Numbers depend on the machine; nothing here asserts them.
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

DEFAULT_PATH = Path("/tmp/mitraseti_bench_memory.fil")
TONE_COARSE = (0, 17, 42)  # coarse channels that get a drifting tone


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


def measure_search(path: Path, n_coarse: int) -> dict:
    try:
        from mitraseti.search import search_observation
        from mitraseti.search.params import SearchParams
    except ImportError as exc:
        return {"skipped": f"mitraseti.search.search_observation not importable ({exc})"}
    from mitraseti.io import open_observation

    start = time.perf_counter()
    with open_observation(path, n_coarse_chan=n_coarse) as obs:
        result = search_observation(obs, SearchParams(max_drift=4.0, snr=10.0,
                                                      n_coarse_chan=n_coarse))
    return {"seconds": time.perf_counter() - start,
            "raw_hits": len(result.raw_hits), "filtered_hits": len(result.filtered_hits),
            "coarse_with_hits": sorted({h.coarse_channel for h in result.filtered_hits})}


def child(mode: str, path: Path, n_spectra: int, n_coarse: int, nfpc: int) -> None:
    import h5py  # noqa: F401  (same imports as a real run)
    import numpy  # noqa: F401

    import mitraseti.io  # noqa: F401
    out: dict = {"mode": mode}
    if mode == "write":
        out["seconds"] = write_file(path, n_spectra, n_coarse, nfpc)
    elif mode == "iterate":
        out.update(measure_iterate(path, n_coarse))
    elif mode == "search":
        out.update(measure_search(path, n_coarse))
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    out["vm_hwm_mib"] = vm_hwm_mib()
    print(json.dumps(out))


def run_child(mode: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--path", str(args.path),
           "--n-spectra", str(args.n_spectra), "--n-coarse", str(args.n_coarse),
           "--nfpc", str(args.nfpc)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"mode": mode, "error": done.stderr.strip()[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-spectra", type=int, default=16)
    ap.add_argument("--n-coarse", type=int, default=64)
    ap.add_argument("--nfpc", type=int, default=1 << 20)
    ap.add_argument("--path", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument("--no-search", action="store_true")
    ap.add_argument("--child", choices=["write", "baseline", "iterate", "search"],
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.path, args.n_spectra, args.n_coarse, args.nfpc)
        return
    size = args.n_spectra * args.n_coarse * args.nfpc * 4
    print(f"file: {args.path} ({args.n_spectra} spectra x {args.n_coarse} coarse x "
          f"{args.nfpc} fine, float32 = {size / 2**30:.2f} GiB of data)")
    if not args.path.exists() or args.path.stat().st_size < size:
        print(json.dumps(run_child("write", args)))
    coarse_mib = args.n_spectra * args.nfpc * 4 / 2**20
    print(f"one coarse channel = {coarse_mib:.0f} MiB")
    modes = ["baseline", "iterate"] + ([] if args.no_search else ["search"])
    try:
        for mode in modes:
            print(json.dumps(run_child(mode, args)))
    finally:
        if not args.keep:
            os.unlink(args.path)


if __name__ == "__main__":
    main()
