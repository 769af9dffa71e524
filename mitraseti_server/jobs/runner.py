"""Child process that runs ONE job's pipeline notebook (spawned by local_executor.LocalExecutor).

    python -m mitraseti_server.jobs.runner --input FILE --out-dir DIR \
        --params '{"max_drift": 4.0, ...}' --kernel python3 --job-id ID

It runs ``notebooks/pipeline.ipynb`` through papermill
(``mitraseti.notebooks.run_notebook``) with typed parameters only; a cadence
job (``input_paths`` in the parameters: every file in observing order, ON first) runs
``notebooks/cadence.ipynb`` instead (``mitraseti.notebooks.run_cadence_notebook``). It
writes into DIR:

- ``_progress.json``  ``{"stage", "fraction", "message"}`` as the job advances;
- ``_runner.json``    ``{"ok": true, "results": {...summary...}, "outputs": {fmt: file}}``
                      or ``{"ok": false, "error": "<one line>"}``.

Exit status 0 on success, 1 on a pipeline error. The parent kills the whole process group
on timeout, so nothing here needs its own timer.

Pooled mode (``--slot-dir DIR --kernel python3``, see ``kernel_pool``): start a kernel and
warm it up first, then read the job as one JSON line from stdin (``{"input", "out_dir",
"params", "job_id"}``), run it on that kernel exactly as above, shut the kernel down and
exit. End-of-file before a job: exit 0 at once (the server closed the pool or died).

``--die-with-parent PID`` (the Dask workers' runners; PID: the worker that started it): a
thread watches that process; when it is gone (a lost worker), the runner kills its kernel
and its own process group at once, so a lost worker's job never runs beside its retry.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from papermill.exceptions import PapermillExecutionError

from mitraseti.atomic import atomic_write_text
from mitraseti.export.formats import DOWNLOAD_FORMATS
from mitraseti.notebooks import run_cadence_notebook, run_notebook
from mitraseti_server.jobs.kernel_pool import (WarmKernel, add_kernel_record, kill_group,
                                               kill_kernel, warm_runner)

RUNNER_FILE = "_runner.json"
PROGRESS_FILE = "_progress.json"
SUMMARY_KEYS = ("raw_hits", "filtered_hits", "candidates", "processing_time_seconds",
                "top_candidates", "events", "top_events", "filter_level")  # last 3: cadence


def partial_report(out_dir: Path) -> Path | None:
    """The job's report.ipynb; for a run killed mid-way, the newest readable notebook
    papermill saved beside it (``.report.ipynb.*.part.ipynb``, saved at each cell)."""
    name = DOWNLOAD_FORMATS["notebook"]
    found = [out_dir / name] if (out_dir / name).exists() else []
    found += sorted(out_dir.glob(f".{name}.*.part.ipynb"),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for path in found:
        try:
            json.loads(path.read_text())
            return path
        except (OSError, ValueError):        # cut short by the kill: not a notebook
            continue
    return None


def write_json_atomic(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj))


def one_line_error(exc: BaseException) -> str:
    """``Name: message`` on one line; papermill errors report the notebook's exception."""
    if isinstance(exc, PapermillExecutionError):
        name, value = exc.ename, exc.evalue
    else:
        name, value = type(exc).__name__, str(exc)
    text = f"{name}: {value}" if value else name
    line = " ".join(text.split())
    return line[:500]


def typed_params(params: dict) -> dict:
    """Keep only str/float/int values and lists of str (papermill parameters must be plain
    and typed)."""
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            out[k] = list(v)
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise TypeError(f"parameter {k!r} must be str, int, float or a list of str, got "
                            f"{type(v).__name__}")
        out[k] = v
    return out


def summarise(out_dir: Path) -> dict:
    """The ``results`` object of GET /jobs/{id}, from the run's results.json."""
    path = out_dir / DOWNLOAD_FORMATS["json"]
    summary = json.loads(path.read_text()) if path.exists() else {}
    if isinstance(summary, dict) and isinstance(summary.get("summary"), dict):
        summary = summary["summary"]
    out = {k: summary[k] for k in SUMMARY_KEYS if k in summary}
    for k in ("raw_hits", "filtered_hits", "candidates"):      # counts, not lists
        if isinstance(out.get(k), list):
            out[k] = len(out[k])
    out.setdefault("top_candidates", [])
    return out


def find_outputs(out_dir: Path) -> dict[str, str]:
    """Download format -> file name in ``out_dir``, for the exports that exist."""
    return {fmt: name for fmt, name in DOWNLOAD_FORMATS.items() if (out_dir / name).exists()}


def run_pipeline(input_path: str, out_dir: Path, params: dict, kernel: str,
                 kernel_manager=None) -> None:
    """Run the pipeline notebook (the cadence notebook when ``params`` has
    ``input_paths``) on ``kernel_manager``'s running kernel when given. The notebook writes
    its progress to ``PROGRESS_FILE``, which the executor polls; report.html is not a
    download format of the service, so it is not rendered."""
    if "input_paths" in params:
        run_cadence(params, out_dir, kernel, kernel_manager)
        return
    run_notebook(input_path, str(out_dir), **params, kernel_name=kernel,
                 progress_path=str(out_dir / PROGRESS_FILE), kernel_manager=kernel_manager,
                 html=False)


def run_cadence(params: dict, out_dir: Path, kernel: str, kernel_manager=None) -> None:
    """A cadence job: ``notebooks/cadence.ipynb`` on ``params["input_paths"]``."""
    kwargs = {k: v for k, v in params.items() if k != "input_paths"}
    run_cadence_notebook(params["input_paths"], str(out_dir), kernel_name=kernel,
                                progress_path=str(out_dir / PROGRESS_FILE), html=False,
                                kernel_manager=kernel_manager, **kwargs)


def run_job(input_path: str, out_dir: Path, params_json: str, kernel: str,
            warm=None) -> int:
    """Run one job into ``out_dir`` (on the ``WarmKernel`` ``warm`` when given) and write
    ``_runner.json``; returns the exit status."""
    out_dir.mkdir(parents=True, exist_ok=True)

    def progress(stage: str, fraction: float, message: str = "") -> None:
        write_json_atomic(out_dir / PROGRESS_FILE, {
            "stage": str(stage), "fraction": round(float(fraction), 4),
            "message": str(message), "time": time.time()})

    record = None
    try:
        params = typed_params(json.loads(params_json))
        if warm is not None:
            record = warm.prepare(out_dir)
            print(f"job runs on pre-started kernel {json.dumps(record)}", flush=True)
        progress("starting", 0.0, "launching the pipeline notebook")
        run_pipeline(input_path, out_dir, params, kernel,
                     warm.km if warm is not None else None)
        keep_kernel_record(out_dir, record)
        results = summarise(out_dir)
        outputs = find_outputs(out_dir)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, then exit 1
        keep_kernel_record(out_dir, record)
        write_json_atomic(out_dir / RUNNER_FILE, {"ok": False, "error": one_line_error(exc)})
        return 1
    write_json_atomic(out_dir / RUNNER_FILE, {"ok": True, "results": results,
                                              "outputs": outputs})
    return 0


def keep_kernel_record(out_dir: Path, record: dict | None) -> None:
    report = out_dir / DOWNLOAD_FORMATS["notebook"]
    if record is not None and report.exists():
        try:
            add_kernel_record(report, record)
        except Exception as exc:  # noqa: BLE001 - the report itself matters more
            print(f"could not record the kernel in {report}: {exc}", flush=True)


def read_job_from_stdin(on_eof) -> tuple[threading.Event, dict]:
    """Start a thread that reads the job line from stdin; it enters the job's directory
    at once (so a restarted server recognises this process), stores the job in the
    returned dict and sets the event. End-of-file first: ``on_eof()``."""
    got, box = threading.Event(), {}

    def read() -> None:
        try:
            line = sys.stdin.buffer.readline()
            spec = json.loads(line) if line.strip() else None
            out_dir = Path(spec["out_dir"]) if spec else None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"unreadable job on stdin ({exc}); exiting", flush=True)
            spec = None
        if spec is None:
            on_eof()
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        os.chdir(out_dir)
        box.update(spec)
        got.set()

    threading.Thread(target=read, daemon=True, name="job-inbox").start()
    return got, box


def serve_one_job(slot_dir: Path, kernel: str) -> int:
    """Pooled mode: start and warm a kernel, wait for one job, run it, shut down."""
    slot_dir.mkdir(parents=True, exist_ok=True)

    def abandoned() -> None:
        kill_kernel(slot_dir)
        os._exit(0)

    got, spec = read_job_from_stdin(abandoned)
    warm = WarmKernel(slot_dir, kernel)
    t0 = time.perf_counter()
    try:
        warm.start()
        # this process warms up (imports, nbconvert) while the kernel does
        runner_warm = threading.Thread(target=warm_runner, args=(slot_dir, kernel),
                                       daemon=True, name="warm-runner")
        runner_warm.start()
        warm.warm_up(before_ready=runner_warm.join)
        print(f"kernel {warm.record['kernel_id']} ready in {time.perf_counter() - t0:.2f} s",
              flush=True)
    except Exception as exc:  # noqa: BLE001 - the job then starts its own kernel
        print(f"warm-up failed ({one_line_error(exc)}); the job will start a fresh kernel",
              flush=True)
        warm.shutdown()
        warm = None
    got.wait()
    try:
        return run_job(spec["input"], Path(spec["out_dir"]), json.dumps(spec["params"]),
                       kernel, warm)
    finally:
        if warm is not None:
            warm.shutdown()


def warm_factory(pool_dir: Path, kernel: str) -> dict:
    """The spare factory's warm-up (``spare_factory``): what every runner imports and
    reads once, and what every kernel loads short of numba's threads; returns its record."""
    from mitraseti import pipeline

    warm_runner(pool_dir, kernel)
    return {"seconds": {"preload": pipeline.preload()}}


def factory_spare(slot_dir: Path, kernel: str, die_with_factory: bool) -> int:
    """A spare runner forked by the factory (already warm): as ``--slot-dir`` mode;
    ``die_with_factory``: die when the factory (our parent, which dies with its owner)
    does."""
    if die_with_factory:
        die_with_parent(os.getppid())
    return serve_one_job(slot_dir, kernel)


def die_with_parent(parent: int, every_s: float = 0.05) -> None:
    """Start a thread that kills this runner's children (the kernel leads its own process
    group), then the runner's own process group, once the process ``parent`` that started
    it has exited (we are re-parented; checked every ``every_s`` s). Polling ``getppid``
    rather than PR_SET_PDEATHSIG, which fires when the parent *thread* ends."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        for pid in child_pids(os.getpid()):
            kill_group(pid)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def child_pids(parent: int) -> list[int]:
    """Pids of the children of ``parent`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", help="observation file (.fil or .h5)")
    ap.add_argument("--out-dir", help="directory for report and exports")
    ap.add_argument("--params", default="{}", help="JSON object of typed parameters")
    ap.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    ap.add_argument("--job-id", default="", help="job id (lets a restarted server find us)")
    ap.add_argument("--slot-dir", help="pooled mode: warm a kernel here, read the job "
                                       "from stdin")
    ap.add_argument("--die-with-parent", type=int, default=0, metavar="PID",
                    help="kill the kernel and exit when process PID (the parent) exits")
    ap.add_argument("--factory", metavar="POOL_DIR",
                    help="be the kernel pool's spare factory (see spare_factory)")
    ap.add_argument("--factory-socket", metavar="PATH", help="the factory's Unix socket")
    args = ap.parse_args(argv)
    if args.factory:
        from mitraseti_server.jobs.spare_factory import serve
        return serve(Path(args.factory), Path(args.factory_socket),
                     warm=lambda: warm_factory(Path(args.factory), args.kernel),
                     run_spare=lambda slot, die: factory_spare(slot, args.kernel, die),
                     parent=args.die_with_parent)
    if args.die_with_parent:
        die_with_parent(args.die_with_parent)
    if args.slot_dir:
        return serve_one_job(Path(args.slot_dir), args.kernel)
    if not args.input or not args.out_dir:
        ap.error("--input and --out-dir are required (or --slot-dir)")
    return run_job(args.input, Path(args.out_dir), args.params, args.kernel)


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Every result is written and closed, the kernel is down: skip the interpreter's
    # teardown (closing kernel-client sockets and threads), which takes about a second.
    os._exit(status)
