"""Batch analysis: many observations, optionally several at a time in separate processes.

    status = run_batch(["obs/", "more/*.h5", "x.fil"], Path("out"), jobs=2,
                       params=dict(max_drift=4.0, snr=10.0))

Each file's exports go to ``<out>/<stem>_results/`` (``<name>_results`` when two inputs
share a stem, numbered if that still collides). ``<out>/hits_all.csv`` merges every file's
signals.csv: the same columns after a leading ``file`` column, rows ordered by file (batch
order: folders and globs sorted), then frequency. A file that fails is reported on one line
and the batch goes on; the exit status is 2 if any file had bad input, else 1 if any file
failed, else 0. ``--notebook`` takes one file only.

With ``jobs > 1`` files run in a ``ProcessPoolExecutor`` (forkserver, which imports the
pipeline once for all workers, else spawn); each worker sends its pipeline progress back
through a queue to one tqdm bar per file, and uses ``cpu_count // jobs`` numba threads
unless ``NUMBA_NUM_THREADS`` is set.
"""
from __future__ import annotations

import csv
import glob
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

from mitraseti.atomic import atomic_open
from mitraseti.console import PROG, CliError, ProgressBar, import_problem, input_errors

INPUT_SUFFIXES = (".fil", ".h5", ".hdf5")
MERGED_NAME = "hits_all.csv"
OK, BAD_INPUT, FAILED = "ok", "bad input", "failed"
_GLOB_CHARS = set("*?[")
_progress_queue = None          # set in each worker process by _init_worker


@dataclass
class FileOutcome:
    """What happened to one input: ``status`` OK / BAD_INPUT / FAILED, ``error`` (one
    line) when not OK, and the run ``summary`` (PipelineResult.summary() fields)."""

    index: int
    path: Path
    out_dir: Path | None
    status: str = OK
    error: str = ""
    summary: dict = field(default_factory=dict)


# ---- inputs --------------------------------------------------------------------------------
def _is_glob(spec: str) -> bool:
    return bool(_GLOB_CHARS & set(spec)) and not Path(spec).exists()


def is_batch(specs: list[str]) -> bool:
    """True unless ``specs`` is one path that is neither a folder nor a glob."""
    return len(specs) > 1 or Path(specs[0]).is_dir() or _is_glob(specs[0])


def expand_inputs(specs: list[str]) -> tuple[list[Path], list[FileOutcome]]:
    """Files named by ``specs`` (files, folders, globs), in order without repeats, and a
    BAD_INPUT outcome for each spec that names nothing."""
    files: list[Path] = []
    problems: list[FileOutcome] = []
    for spec in specs:
        if Path(spec).is_dir():
            found = sorted(p for p in Path(spec).iterdir()
                           if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
            why = f"no {'/'.join(INPUT_SUFFIXES)} files in this folder"
        elif _is_glob(spec):
            found = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
            why = "no file matches this pattern"
        else:
            found, why = [Path(spec)], ""
        if not found:
            problems.append(FileOutcome(-1, Path(spec), None, BAD_INPUT, why))
        files += [p for p in found if p not in files]
    return files, problems


def result_dirs(files: list[Path], out_root: Path) -> list[Path]:
    """``<out_root>/<stem>_results`` per file; the full file name, then a number, when
    that is taken."""
    stems = [p.stem for p in files]
    taken: set[Path] = set()
    dirs = []
    for path in files:
        base = path.stem if stems.count(path.stem) == 1 else path.name
        candidate, n = out_root / f"{base}_results", 2
        while candidate in taken:
            candidate, n = out_root / f"{base}_{n}_results", n + 1
        taken.add(candidate)
        dirs.append(candidate)
    return dirs


# ---- one file (in this process or a worker) ------------------------------------------------
def _init_worker(queue, numba_threads: int) -> None:
    global _progress_queue
    _progress_queue = queue
    if "NUMBA_NUM_THREADS" not in os.environ:
        import numba

        numba.set_num_threads(min(numba_threads, numba.config.NUMBA_NUM_THREADS))


def _queue_progress(index: int):
    def report(stage: str, fraction: float, message: str) -> None:
        _progress_queue.put((index, stage, fraction, message))
    return report


def analyze_file(index: int, path: Path, out_dir: Path, params: dict,
                 progress=None) -> FileOutcome:
    """Run the pipeline on one file; never raises for a bad or failing file."""
    from mitraseti import pipeline

    if progress is None and _progress_queue is not None:
        progress = _queue_progress(index)
    outcome = FileOutcome(index, path, out_dir)
    try:
        if not path.is_file():
            raise CliError(f"{path}: no such file")
        result = pipeline.run(path, out_dir, progress=progress, **params)
        outcome.summary = result.summary()
    except input_errors() as exc:
        outcome.status, outcome.error = BAD_INPUT, " ".join(str(exc).split())
    except Exception as exc:  # noqa: BLE001 - one failing file must not stop the batch
        outcome.status, outcome.error = FAILED, import_problem(exc)
    return outcome


# ---- the batch -----------------------------------------------------------------------------
def _run_here(jobs, bars) -> list[FileOutcome]:
    return [analyze_file(i, path, out, params, progress=bars[i])
            for i, path, out, params in jobs]


def _run_pool(jobs, bars, workers: int) -> list[FileOutcome]:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["mitraseti.batch", "mitraseti.pipeline"])  # import once
    else:
        ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // workers)
    outcomes = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(queue, threads)) as pool:
        futures = {pool.submit(analyze_file, *job): job for job in jobs}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(queue, bars)
            for future in done:
                i, path, out, _ = futures[future]
                try:
                    outcomes.append(future.result())
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by a signal
                    outcomes.append(FileOutcome(i, path, out, FAILED, import_problem(exc)))
    _drain(queue, bars)
    return sorted(outcomes, key=lambda o: o.index)


def _drain(queue, bars) -> None:
    """Feed every progress message waiting in ``queue`` to its file's bar."""
    while True:
        try:
            index, stage, fraction, message = queue.get_nowait()
        except Empty:
            return
        bars[index](stage, fraction, message)


def run_batch(specs: list[str], out_root: Path, *, jobs: int = 1, params: dict,
              quiet: bool = False) -> int:
    """Analyse every file named by ``specs``; write per-file exports, the merged hits table
    and a summary line per file. Returns the exit status (0, 1 or 2)."""
    from mitraseti.pipeline import make_params

    keys = ("max_drift", "min_drift", "snr", "n_coarse_chan")
    make_params(**{k: params[k] for k in keys if k in params})   # bad parameters: exit 2
    files, problems = expand_inputs(specs)
    if not files:
        raise CliError("; ".join(f"{p.path}: {p.error}" for p in problems))
    out_root = Path(out_root)
    work = [(i, path, out, params)
            for i, (path, out) in enumerate(zip(files, result_dirs(files, out_root)))]
    bars = [ProgressBar(enabled=not quiet, position=i, leave=True, desc=path.name)
            for i, path in enumerate(files)]
    try:
        workers = min(jobs, len(files))
        outcomes = _run_pool(work, bars, workers) if workers > 1 else _run_here(work, bars)
        for outcome in outcomes:
            if outcome.status == OK:
                bars[outcome.index].advance(100.0)
    finally:
        for bar in bars:
            bar.close()
    n_rows = merge_hits(outcomes, out_root / MERGED_NAME)
    report(problems + outcomes, out_root / MERGED_NAME, n_rows, quiet=quiet)
    return exit_status(problems + outcomes)


def merge_hits(outcomes: list[FileOutcome], dest: Path) -> int:
    """Write ``dest``: ``file`` + signals.csv columns of every successful file, ordered by
    file (batch order) then frequency. Returns the number of rows."""
    from mitraseti.export import FILENAMES
    from mitraseti.search.hit import CSV_COLUMNS

    columns, rows = list(CSV_COLUMNS), []
    for outcome in outcomes:
        if outcome.status != OK:
            continue
        with open(outcome.out_dir / FILENAMES["csv"], newline="") as fh:
            reader = csv.DictReader(fh)
            columns += [c for c in reader.fieldnames or () if c not in columns]
            found = [dict(row, file=str(outcome.path)) for row in reader]
        rows += sorted(found, key=lambda r: float(r.get("frequency_hz") or 0.0))
    with atomic_open(dest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file"] + columns)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def report(outcomes: list[FileOutcome], merged: Path, n_rows: int, quiet: bool = False,
           stream=None) -> None:
    """One line per file (stdout, unless quiet), one error line per bad or failed file
    (stderr, always), then a total."""
    stream = stream or sys.stdout
    for o in outcomes:
        if o.status != OK:
            print(f"{PROG}: error: {o.path}: {o.status}: {o.error}", file=sys.stderr)
        elif not quiet:
            s = o.summary
            print(f"{o.path}: {s['raw_hits']} raw hits, {s['filtered_hits']} signals, "
                  f"{s['candidates']} candidates in {s['processing_time_seconds']:.2f} s "
                  f"-> {o.out_dir}", file=stream)
    if not quiet:
        n_ok = sum(o.status == OK for o in outcomes)
        print(f"batch: {n_ok}/{len(outcomes)} files analysed; {n_rows} signals in {merged}",
              file=stream)


def exit_status(outcomes: list[FileOutcome]) -> int:
    """2 if any input was bad, else 1 if any file failed, else 0."""
    statuses = {o.status for o in outcomes}
    return 2 if BAD_INPUT in statuses else 1 if FAILED in statuses else 0
