"""Time of every export of one pipeline run (prints seconds; asserts nothing).

    .venv/bin/python benchmarks/bench_exports.py [--before COMMIT] [--repeat 3]

Builds a synthetic 16 x 2**20 observation (32 coarse channels) with 25 drifting tones and its
PipelineResult (hits from the generator's truth; waterfall and stamps accumulated as the
pipeline does, independent of the search and the classifier) and pickles it. Then, in fresh child
processes (so lazy imports are paid as in a real run), it times ``write_all`` (total, best
of ``--repeat`` children) and each writer alone (second call, imports already paid).
``--before COMMIT`` also times the code of COMMIT on the same pickled result, from a
temporary ``git worktree`` that is removed afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_SPECTRA, N_CHANS, N_COARSE, N_TONES = 16, 2**20, 32, 25
REPO = Path(__file__).resolve().parents[1]


def build_result(work: Path) -> Path:
    """A PipelineResult for the synthetic observation, built without the search (as in
    tests/export/conftest.py): the hits are the generator's truth, each labelled
    NARROWBAND_DRIFTING, and the waterfall and stamps are accumulated block by block exactly
    as the pipeline does. Returns the path of the pickled (result, stamps by hit index)."""
    import numpy as np

    from mitraseti.export.result import TOP_N, PipelineResult, is_candidate, rank_key
    from mitraseti.export.stamps import StampKeeper
    from mitraseti.export.waterfall import WaterfallAccumulator
    from mitraseti.search.hit import Hit
    from mitraseti.search.params import SearchParams
    from mitraseti.synth import NarrowbandSignal, make_observation

    rng = np.random.default_rng(5)
    nfpc = N_CHANS // N_COARSE
    coarse = rng.choice(N_COARSE, N_TONES, replace=N_TONES > N_COARSE)
    signals = [NarrowbandSignal(channel=float(c * nfpc + rng.integers(2000, nfpc - 2000)) + 0.3,
                                drift_rate=float(rng.choice([-1, 1]) * rng.uniform(0.3, 3.0)),
                                snr=float(rng.uniform(25, 80))) for c in coarse]
    synth = make_observation(n_spectra=N_SPECTRA, n_chans=N_CHANS, n_coarse_chan=N_COARSE,
                             signals=signals, seed=11, source_name="BENCH_EXPORTS")
    header = synth.header
    hits = [Hit(frequency_hz=t.frequency_hz, drift_rate=t.drift_rate, snr=t.snr,
                channel_index=t.channel_index, coarse_channel=t.channel_index // nfpc,
                classification="NARROWBAND_DRIFTING", confidence=0.9,
                interestingness=float(rng.uniform(0.2, 0.9)), start_time_mjd=header.tstart)
            for t in synth.truth]
    raw = [Hit.from_dict(h.to_dict()) for h in hits for _ in range(4)]
    t0 = time.perf_counter()
    acc = WaterfallAccumulator(header)
    keeper = StampKeeper(rank_key, TOP_N)
    for i in range(N_COARSE):
        block = synth.data[:, i * nfpc:(i + 1) * nfpc]
        acc.add(block, i * nfpc)
        for h in hits:
            if h.coarse_channel == i and is_candidate(h):
                keeper.offer(h, block, header, i * nfpc)
    waterfall = acc.result()
    in_run = time.perf_counter() - t0
    result = PipelineResult(
        path=work / "bench_exports.fil", header=header, params=SearchParams(max_drift=4.0),
        source_name="BENCH_EXPORTS", raw_hits=raw, filtered_hits=hits,
        timings={"ingest": 0.0, "dedoppler": 0.0, "classify": 0.0, "export": in_run},
        waterfall=waterfall, stamps=keeper.stamps(), n_coarse_channels=N_COARSE, nfpc=nfpc)
    print(f"{N_SPECTRA} x {N_CHANS} channels, {len(hits)} signals, {len(raw)} raw hits, "
          f"{len(result.top_candidates)} top candidates, {len(result.stamps)} stamps; "
          f"waterfall + stamps accumulated during the run: {in_run:.3f} s")
    # stamps are keyed by id(hit), which pickling does not keep: store them by hit index
    index = {id(h): k for k, h in enumerate(result.filtered_hits)}
    stamps = {index[i]: s for i, s in result.stamps.items()}
    result.stamps = {}
    out = work / "result.pkl"
    out.write_bytes(pickle.dumps((result, stamps)))
    return out


def time_exports(pickle_path: Path, out_dir: Path) -> dict:
    """Child process: write_all once (cold), then each writer again (warm). ``import`` is
    the time to import mitraseti.export on top of what a pipeline run has already imported
    (the reader, the search, the classifier)."""
    import mitraseti.io  # noqa: F401
    import mitraseti.search  # noqa: F401
    import mitraseti.signals  # noqa: F401

    t_start = time.perf_counter()
    from mitraseti import export

    t_import = time.perf_counter() - t_start
    result, stamps = pickle.loads(Path(pickle_path).read_bytes())
    result.stamps = {id(result.filtered_hits[k]): s for k, s in stamps.items()}
    t0 = time.perf_counter()
    outputs = export.write_all(result, out_dir)
    total = time.perf_counter() - t0
    warm = {}
    again = out_dir / "again"           # fresh names: replacing files costs extra on ext4
    for fmt, writer in export._WRITERS.items():
        t0 = time.perf_counter()
        writer(result, again / export.FILENAMES[fmt])
        warm[fmt] = time.perf_counter() - t0
    t0 = time.perf_counter()
    export.write_results_json(result, again / export.FILENAMES["json"])
    warm["json"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    stamps = export.write_stamps(result, again / export.STAMP_DIR)
    warm[f"stamps ({len(stamps)})"] = time.perf_counter() - t0
    return {"import": t_import, "write_all": total, "warm": warm,
            "files": len(outputs), "code": export.__file__}


def run_children(pickle_path: Path, tree: Path, repeat: int, out_root: Path) -> dict:
    """Best of ``repeat`` fresh processes running the code found in ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    best = None
    for k in range(repeat):
        out = out_root / f"{tree.name}_{k}"
        proc = subprocess.run([sys.executable, __file__, "--child", str(pickle_path), str(out)],
                              env=env, cwd=out_root, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"timing child failed ({tree}):\n{proc.stderr[-3000:]}")
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
        if best is None or doc["write_all"] < best["write_all"]:
            best = doc
    return best


def report(name: str, doc: dict) -> None:
    print(f"\n{name}: {doc['code']}")
    print(f"  import mitraseti.export  {doc['import']:7.3f} s   (after the pipeline's imports)")
    print(f"  write_all (cold)         {doc['write_all']:7.3f} s   ({doc['files']} files)")
    print(f"  import + write_all       {doc['import'] + doc['write_all']:7.3f} s")
    for fmt, sec in doc["warm"].items():
        print(f"    {fmt:<22} {sec:7.3f} s  (warm)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", help="commit whose exports to time as well")
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per code version")
    ap.add_argument("--result", type=Path, help="pickled result to reuse (made if missing)")
    ap.add_argument("--keep", type=Path, help="directory that keeps the written exports")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(time_exports(Path(a.child[0]), Path(a.child[1]))))
        return
    with tempfile.TemporaryDirectory(prefix="bench_exports_") as tmp:
        work = Path(tmp)
        pickle_path = a.result if a.result and a.result.exists() else build_result(work)
        if a.result and not a.result.exists():
            a.result.write_bytes(pickle_path.read_bytes())
        out_root = a.keep or work
        out_root.mkdir(parents=True, exist_ok=True)
        docs = {}
        if a.before:
            old = work / "before"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old),
                            a.before], check=True, capture_output=True)
            try:
                docs[f"before ({a.before})"] = run_children(pickle_path, old, a.repeat,
                                                            out_root)
            finally:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                                str(old)], check=False)
        docs["now"] = run_children(pickle_path, REPO, a.repeat, out_root)
        for name, doc in docs.items():
            report(name, doc)


if __name__ == "__main__":
    main()
