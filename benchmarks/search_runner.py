"""Run MitraSETI's search on files and print one JSON line per file.

Started by compare_turboseti.py:  python search_runner.py MAX_DRIFT SNR WARMUP FILE...
The WARMUP file is searched first and not reported (loads the cached numba kernels).
Each line: {"file", "search_s" (wall), "search_cpu_s" (all threads), "timings", "hits": [{"frequency_hz", "drift_rate", "snr",
"source", "boxcar_width"}]} with the filtered hits.
"""
import json
import sys
import time

from mitraseti.io import open_observation
from mitraseti.search import SearchParams, search_observation


def main():
    max_drift, snr, warmup, *files = sys.argv[1:]
    params = SearchParams(max_drift=float(max_drift), snr=float(snr))
    for i, f in enumerate([warmup] + files):
        t, cpu = time.perf_counter(), time.process_time()
        with open_observation(f, n_coarse_chan=1) as obs:
            res = search_observation(obs, params)
        dt, dcpu = time.perf_counter() - t, time.process_time() - cpu
        if i == 0:
            continue
        hits = [{"frequency_hz": h.frequency_hz, "drift_rate": h.drift_rate, "snr": h.snr,
                 "source": h.source, "boxcar_width": h.boxcar_width}
                for h in res.filtered_hits]
        print(json.dumps({"file": f, "search_s": dt, "search_cpu_s": dcpu,
                          "timings": res.timings,
                          "n_raw": len(res.raw_hits), "hits": hits}), flush=True)


if __name__ == "__main__":
    main()
