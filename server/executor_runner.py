"""Child process that runs ONE job's pipeline notebook (spawned by executor.LocalExecutor).

    python -m mitraseti_server.executor_runner --input FILE --out-dir DIR \
        --params '{"max_drift": 4.0, ...}' --kernel python3 --job-id ID

It runs ``notebooks/pipeline.ipynb`` through papermill (via
``mitraseti.pipeline.run_notebook`` when that exists) with typed parameters only; a cadence
job (``input_paths`` in the parameters: every file in observing order, ON first) runs
``notebooks/cadence.ipynb`` instead (``mitraseti.export.report.run_cadence_notebook``). It
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
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import threading
import time
from pathlib import Path

RUNNER_FILE = "_runner.json"
PROGRESS_FILE = "_progress.json"
SUMMARY_KEYS = ("raw_hits", "filtered_hits", "candidates", "processing_time_seconds",
                "top_candidates", "events", "top_events", "filter_level")  # last 3: cadence
# Which output file serves which download format (names written by mitraseti.export).
FORMAT_FILES = {
    "json": "results.json", "csv": "signals.csv", "catalog_json": "catalog.json",
    "classified": "classified.json", "fits": "catalog.fits", "waterfall": "waterfall.png",
    "waterfall_thumb": "waterfall_thumb.png", "notebook": "report.ipynb", "dat": "hits.dat",
    "events": "events.csv", "events_png": "events_png.zip",          # cadence jobs
}
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "pipeline.ipynb"


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def one_line_error(exc: BaseException) -> str:
    """``Name: message`` on one line; papermill errors report the notebook's exception."""
    name = getattr(exc, "ename", None) or type(exc).__name__
    value = getattr(exc, "evalue", None)
    if value is None:
        value = str(exc)
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


def summarise(out_dir: Path, returned) -> dict:
    """The ``results`` object of GET /jobs/{id}: from the pipeline's result, else results.json."""
    if returned is not None and hasattr(returned, "summary"):
        summary = returned.summary()
    else:
        path = out_dir / "results.json"
        summary = json.loads(path.read_text()) if path.exists() else {}
        if isinstance(summary, dict) and isinstance(summary.get("summary"), dict):
            summary = summary["summary"]
    out = {k: summary[k] for k in SUMMARY_KEYS if k in summary}
    for k in ("raw_hits", "filtered_hits", "candidates"):      # counts, not lists
        if isinstance(out.get(k), list):
            out[k] = len(out[k])
    out.setdefault("top_candidates", [])
    return out


def find_outputs(out_dir: Path, returned) -> dict[str, str]:
    """format -> file name relative to out_dir, for the files that exist."""
    outputs: dict[str, str] = {}
    for fmt, path in (getattr(returned, "outputs", None) or {}).items():
        p = Path(path)
        p = p if p.is_absolute() else out_dir / p
        if p.exists() and p.parent.resolve() == out_dir.resolve():
            outputs[str(fmt)] = p.name
    for fmt, name in FORMAT_FILES.items():
        if fmt not in outputs and (out_dir / name).exists():
            outputs[fmt] = name
    return outputs


def run_pipeline(input_path: str, out_dir: Path, params: dict, kernel: str,
                 kernel_manager=None):
    """Run the notebook (on ``kernel_manager``'s running kernel when given); returns
    whatever run_notebook returns (or None)."""
    if "input_paths" in params:
        return run_cadence(params, out_dir, kernel, kernel_manager)
    try:
        from mitraseti import pipeline
        run_notebook = getattr(pipeline, "run_notebook", None)
    except ImportError:
        run_notebook = None
    if run_notebook is not None:
        accepted = inspect.signature(run_notebook).parameters
        has_kwargs = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        kwargs = dict(params)
        # the notebook writes its progress to progress_path; the executor polls that file
        # report.html is not a download format of the service: do not render it
        for k, v in (("kernel_name", kernel), ("progress_path", str(out_dir / PROGRESS_FILE)),
                     ("kernel_manager", kernel_manager), ("html", False)):
            if v is not None and (k in accepted or has_kwargs):
                kwargs[k] = v
        return run_notebook(input_path, str(out_dir), **kwargs)
    import papermill as pm

    extra = {"km": kernel_manager} if kernel_manager is not None else {}
    pm.execute_notebook(str(NOTEBOOK), str(out_dir / "report.ipynb"),
                        parameters=dict(params, input_path=input_path,
                                        output_dir=str(out_dir)),
                        kernel_name=kernel, progress_bar=False, cwd=str(out_dir), **extra)
    return None


def run_cadence(params: dict, out_dir: Path, kernel: str, kernel_manager=None):
    """A cadence job: ``notebooks/cadence.ipynb`` on ``params["input_paths"]``."""
    from mitraseti.export.report import run_cadence_notebook

    kwargs = {k: v for k, v in params.items() if k != "input_paths"}
    return run_cadence_notebook(params["input_paths"], str(out_dir), kernel_name=kernel,
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
        returned = run_pipeline(input_path, out_dir, params, kernel,
                                warm.km if warm is not None else None)
        keep_kernel_record(out_dir, record)
        results = summarise(out_dir, returned)
        outputs = find_outputs(out_dir, returned)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, then exit 1
        keep_kernel_record(out_dir, record)
        write_json_atomic(out_dir / RUNNER_FILE, {"ok": False, "error": one_line_error(exc)})
        return 1
    write_json_atomic(out_dir / RUNNER_FILE, {"ok": True, "results": results,
                                              "outputs": outputs})
    return 0


def keep_kernel_record(out_dir: Path, record: dict | None) -> None:
    report = out_dir / FORMAT_FILES["notebook"]
    if record is not None and report.exists():
        from mitraseti_server.kernel_pool import add_kernel_record
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
    from mitraseti_server.kernel_pool import WarmKernel, kill_kernel, warm_runner

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", help="observation file (.fil or .h5)")
    ap.add_argument("--out-dir", help="directory for report and exports")
    ap.add_argument("--params", default="{}", help="JSON object of typed parameters")
    ap.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    ap.add_argument("--job-id", default="", help="job id (lets a restarted server find us)")
    ap.add_argument("--slot-dir", help="pooled mode: warm a kernel here, read the job "
                                       "from stdin")
    args = ap.parse_args(argv)
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
