"""Peak RSS and seconds per pipeline stage, in a fresh process, as the notebook runs them.

    .venv/bin/python benchmarks/bench_stages.py [FILE] [--nchans 1048576]

Without FILE, generates compare_turboseti.py's first clean observation (2**20 x 16, 40
smeared tones). Runs mitraseti.pipeline's stage functions one after the other (ingest,
dedoppler, classify, export) in a child process and prints, after imports and after each
stage, the process's peak RSS so far (ru_maxrss) and its current RSS, with the stage's
wall time. The search's working arrays are kept per thread between blocks (they are
reused); ``release`` shows the RSS once they are freed.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHILD = r"""
import json, resource, sys, time
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def now(): return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
rows = [("interpreter", 0.0, peak(), now())]
t = time.perf_counter()
from mitraseti import pipeline
from mitraseti.search.taylor import release_workspace
rows.append(("imports", time.perf_counter() - t, peak(), now()))
path, out = sys.argv[1], sys.argv[2]
t = time.perf_counter(); state = pipeline.ingest(path)
rows.append(("ingest (open)", time.perf_counter() - t, peak(), now()))
t = time.perf_counter(); found = pipeline.dedoppler(state, pipeline.make_params())
rows.append(("dedoppler", time.perf_counter() - t, peak(), now()))
t = time.perf_counter(); result = pipeline.classify(state, found)
rows.append(("classify", time.perf_counter() - t, peak(), now()))
t = time.perf_counter(); pipeline.export(result, out)
rows.append(("export", time.perf_counter() - t, peak(), now()))
release_workspace(); state.close()
rows.append(("release", 0.0, peak(), now()))
print(json.dumps(rows))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path)
    ap.add_argument("--nchans", type=int, default=2**20)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "stages")
    args = ap.parse_args(argv)
    path = args.file
    if path is None:
        from compare_turboseti import generate
        path = generate(args.out, 1, 40, args.nchans, 2024)[0][0]
    subprocess.run([sys.executable, "-c", CHILD, str(path), str(args.out / "warm")],
                   check=True, capture_output=True)  # numba caches warm, not reported
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(args.out / "run")],
                         check=True, capture_output=True, text=True).stdout
    rows = json.loads(out.strip().splitlines()[-1])
    print(f"{path.name}: pipeline stages in a fresh process")
    print("stage".ljust(16) + "seconds".rjust(9) + "peak RSS (MiB)".rjust(16)
          + "current (MiB)".rjust(15))
    for name, secs, peak, now in rows:
        print(name.ljust(16) + f"{secs:.2f}".rjust(9) + f"{peak:.0f}".rjust(16)
              + f"{now:.0f}".rjust(15))
    return 0


if __name__ == "__main__":
    sys.exit(main())
