"""CLI subcommands of the signals room: ``train``, ``evaluate``, ``cadence``.

    mitraseti train [--seed N] [--out PATH] [--n-per-label N] [--workers N]
    mitraseti evaluate [--seed N] [--model PATH] [--n-per-label N] [--workers N]
    mitraseti cadence ON1 OFF1 ON2 OFF2 ON3 OFF3 [--out DIR] [--filter-level 3]
                      [--max-drift 4] [--min-drift 0] [--snr 10] [--n-coarse-chan N]
                      [--remote URL [--api-key KEY | --token JWT] [--timeout S]]

``cadence --remote URL`` runs the same analysis as one job of a MitraSETI REST service
(uploads every file, submits, waits) and writes the same files into ``--out``
(cadence_events.csv, event_NNNN.png) plus the job's results.json and report.ipynb; the key
defaults to ``$MITRASETI_API_KEY`` (or ``$MITRASETI_API_TOKEN``).

``register(subparsers)`` adds them to an argparse sub-parsers object; each sets
``func(args) -> int`` (0 success, 1 targets missed / failure); bad input raises
(``mitraseti.errors.InputError``, and ``ModelLoadError`` for ``evaluate``), which
``mitraseti.cli`` reports on one line with exit status 2.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ModelLoadError

# Heavy imports (numpy, numba, scikit-learn) stay inside the command functions so that
# registering the parsers, and so `mitraseti --help`, stays fast.
MACRO_F1_TARGETS = {"standard": 0.95, "held_out": 0.90, "dirty": 0.90, "long_held_out": 0.90}


def _default_workers() -> int:
    import os
    return max(1, min(os.cpu_count() or 1, 8))


def register(subparsers) -> None:
    """Add ``train``, ``evaluate`` and ``cadence`` to an argparse sub-parsers object."""
    p = subparsers.add_parser("train", help="regenerate the shipped signal classifier "
                              "(deterministic in --seed)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--out", default=None, help="model path; writes PATH's .npz (what "
                   "MitraSETI loads), .skops (the scikit-learn object) and .json (checksums) "
                   "(default: the package's mitraseti/data/classifier.npz)")
    p.add_argument("--n-per-label", type=int, default=None,
                   help="examples per morphology (default 1000)")
    p.add_argument("--workers", type=int, default=None, help="processes building the "
                   "examples (default: the CPU count, at most 8; the model is the same "
                   "whatever the number)")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("evaluate", help="precision / recall / F1 and confusion "
                              "matrix of the classifier on fresh seeded sets")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (default 0)")
    p.add_argument("--model", default=None, help="model path (default: shipped model)")
    p.add_argument("--n-per-label", type=int, default=None,
                   help="examples per morphology and set (default 200)")
    p.add_argument("--workers", type=int, default=None, help="processes building the "
                   "sets (default: the CPU count, at most 8; same sets whatever the number)")
    p.set_defaults(func=cmd_evaluate, input_errors=(ModelLoadError,))

    p = subparsers.add_parser("cadence", help="ON/OFF cadence analysis (turboSETI "
                              "find_event levels 1-3)")
    p.add_argument("files", nargs="+", help="ON1 OFF1 ON2 OFF2 ... (.fil or .h5)")
    p.add_argument("--out", default="cadence_out", help="output folder (default "
                   "./cadence_out)")
    p.add_argument("--filter-level", type=int, default=3, choices=(1, 2, 3))
    p.add_argument("--max-drift", type=float, default=4.0, help="Hz/s (default 4)")
    p.add_argument("--min-drift", type=float, default=0.0, help="Hz/s (default 0)")
    p.add_argument("--snr", type=float, default=10.0, help="S/N threshold (default 10)")
    p.add_argument("--n-coarse-chan", type=int, default=None)
    p.add_argument("--no-plots", action="store_true", help="skip the event PNGs")
    p.add_argument("--remote", metavar="URL", default=None,
                   help="run the cadence as one job of the REST service at URL")
    p.add_argument("--api-key", default=None, help="--remote: API key (default "
                   "$MITRASETI_API_KEY)")
    p.add_argument("--token", default=None, help="--remote: JWT instead of an API key "
                   "(default $MITRASETI_API_TOKEN)")
    p.add_argument("--timeout", type=float, default=3600.0,
                   help="--remote: seconds to wait for the job (default 3600)")
    p.set_defaults(func=cmd_cadence)


def _progress(done: int, total: int) -> None:
    print(f"  {done}/{total} examples", file=sys.stderr, flush=True)


def cmd_train(args) -> int:
    from .evaluate import TRAIN_PER_LABEL, train_default
    n = args.n_per_label or TRAIN_PER_LABEL
    path, info = train_default(seed=args.seed, out=args.out, n_per_label=n,
                               progress=_progress,
                               workers=args.workers or _default_workers())
    from .model import sidecar_path, sklearn_path
    files = ", ".join(f"{p.name} ({p.stat().st_size / 1e6:.2f} MB)"
                      for p in (Path(path), sklearn_path(path), sidecar_path(path)))
    print(f"wrote {files} in {Path(path).parent}: {info['n_examples']} "
          f"examples, seed {info['seed']}, set {info['build_seconds']} s, fit "
          f"{info['fit_seconds']} s, search used: {info['used_search']}")
    return 0


def cmd_evaluate(args) -> int:
    """Raises ModelLoadError for an unusable ``--model`` (reported as bad input, exit 2)."""
    from . import model as model_mod
    from .evaluate import EVAL_PER_LABEL, evaluate, format_report
    fitted = model_mod.load(Path(args.model)) if args.model else model_mod.load_default()
    reps = evaluate(fitted, seed=args.seed, n_per_label=args.n_per_label or EVAL_PER_LABEL,
                    workers=args.workers or _default_workers())
    ok = True
    for name, rep in reps.items():
        print(format_report(name, rep))
        target = MACRO_F1_TARGETS.get(name)
        if target is None:
            print("no target\n")
            continue
        met = rep["macro_f1"] >= target
        ok &= met
        print(f"target macro-F1 >= {target:.2f}: {'met' if met else 'MISSED'}\n")
    return 0 if ok else 1


def cmd_cadence(args) -> int:
    if args.remote:
        from .cadence_remote import run_remote
        return run_remote(args)
    from ..search.params import SearchParams
    from .cadence import run_cadence
    params = SearchParams(max_drift=args.max_drift, min_drift=args.min_drift,
                          snr=args.snr, n_coarse_chan=args.n_coarse_chan)
    res = run_cadence(args.files, out_dir=args.out, filter_level=args.filter_level,
                      params=params, plot=not args.no_plots)
    print(f"{len(res.events)} event(s) at filter level {res.filter_level}, "
          f"{len(res.candidates)} CANDIDATE_ET; wrote {res.csv_path}")
    for ev in res.events:
        h = ev.hit
        print(f"  #{ev.event_id}: {h.frequency_hz / 1e6:.6f} MHz, drift {h.drift_rate:+.4f} "
              f"Hz/s, S/N {h.snr:.1f}, {h.classification} {h.rfi_source}".rstrip())
    return 0
