"""Child process that runs ONE job's pipeline notebook (spawned by executor.LocalExecutor).

    python -m mitraseti_server.executor_runner --input FILE --out-dir DIR \
        --params '{"max_drift": 4.0, ...}' --kernel python3 --job-id ID

It runs ``notebooks/pipeline.ipynb`` through papermill (via
``mitraseti.pipeline.run_notebook`` when that exists) with typed parameters only, and
writes into DIR:

- ``_progress.json``  ``{"stage", "fraction", "message"}`` as the job advances;
- ``_runner.json``    ``{"ok": true, "results": {...summary...}, "outputs": {fmt: file}}``
                      or ``{"ok": false, "error": "<one line>"}``.

Exit status 0 on success, 1 on a pipeline error. The parent kills the whole process group
on timeout, so nothing here needs its own timer.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from pathlib import Path

RUNNER_FILE = "_runner.json"
PROGRESS_FILE = "_progress.json"
SUMMARY_KEYS = ("raw_hits", "filtered_hits", "candidates", "processing_time_seconds",
                "top_candidates")
# Which output file serves which download format (names written by mitraseti.export).
FORMAT_FILES = {
    "json": "results.json", "csv": "signals.csv", "catalog_json": "catalog.json",
    "classified": "classified.json", "fits": "catalog.fits", "waterfall": "waterfall.png",
    "waterfall_thumb": "waterfall_thumb.png", "notebook": "report.ipynb", "dat": "hits.dat",
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
    """Keep only str/float/int values (papermill parameters must be plain and typed)."""
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise TypeError(f"parameter {k!r} must be str, int or float, got {type(v).__name__}")
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


def run_pipeline(input_path: str, out_dir: Path, params: dict, kernel: str):
    """Run the notebook; returns whatever run_notebook returns (or None)."""
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
        for k, v in (("kernel_name", kernel), ("progress_path", str(out_dir / PROGRESS_FILE))):
            if k in accepted or has_kwargs:
                kwargs[k] = v
        return run_notebook(input_path, str(out_dir), **kwargs)
    import papermill as pm

    pm.execute_notebook(str(NOTEBOOK), str(out_dir / "report.ipynb"),
                        parameters=dict(params, input_path=input_path,
                                        output_dir=str(out_dir)),
                        kernel_name=kernel, progress_bar=False, cwd=str(out_dir))
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", required=True, help="observation file (.fil or .h5)")
    ap.add_argument("--out-dir", required=True, help="directory for report and exports")
    ap.add_argument("--params", default="{}", help="JSON object of typed parameters")
    ap.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    ap.add_argument("--job-id", default="", help="job id (lets a restarted server find us)")
    args = ap.parse_args(argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def progress(stage: str, fraction: float, message: str = "") -> None:
        write_json_atomic(out_dir / PROGRESS_FILE, {
            "stage": str(stage), "fraction": round(float(fraction), 4),
            "message": str(message), "time": time.time()})

    try:
        params = typed_params(json.loads(args.params))
        progress("starting", 0.0, "launching the pipeline notebook")
        returned = run_pipeline(args.input, out_dir, params, args.kernel)
        results = summarise(out_dir, returned)
        outputs = find_outputs(out_dir, returned)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, then exit 1
        write_json_atomic(out_dir / RUNNER_FILE, {"ok": False, "error": one_line_error(exc)})
        return 1
    write_json_atomic(out_dir / RUNNER_FILE, {"ok": True, "results": results,
                                              "outputs": outputs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
