"""Run turboSETI's FindDoppler on files and print one JSON line per file (stdlib + turbo_seti).

Runs inside benchmarks/.turboseti-venv (numpy < 2, turbo-seti 2.3.2), started by
compare_turboseti.py:  python turboseti_runner.py OUT_DIR MAX_DRIFT SNR WARMUP FILE...
The WARMUP file is searched first and not reported (numba compilation, imports).
Each line: {"file", "search_s" (wall), "search_cpu_s", "hits": [{"frequency_hz", "drift_rate", "snr"}]}.
"""
import json
import logging
import sys
import time
from pathlib import Path


def parse_dat(path):
    """Hits of a turboSETI .dat file: Uncorrected_Frequency (MHz) at t = 0, drift, S/N."""
    hits = []
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split()
        hits.append({"drift_rate": float(cols[1]), "snr": float(cols[2]),
                     "frequency_hz": float(cols[3]) * 1e6})
    return hits


def main():
    out_dir, max_drift, snr, warmup, *files = sys.argv[1:]
    from turbo_seti.find_doppler.find_doppler import FindDoppler
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate([warmup] + files):
        t, cpu = time.perf_counter(), time.process_time()
        fd = FindDoppler(f, max_drift=float(max_drift), min_drift=0.0, snr=float(snr),
                         out_dir=str(out), n_coarse_chan=1, log_level_int=logging.WARNING)
        fd.search()
        dt, dcpu = time.perf_counter() - t, time.process_time() - cpu
        if i == 0:
            continue
        dat = out / (Path(f).stem + ".dat")
        print(json.dumps({"file": f, "search_s": dt, "search_cpu_s": dcpu,
                          "hits": parse_dat(dat)}), flush=True)


if __name__ == "__main__":
    main()
