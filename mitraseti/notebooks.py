"""The project's notebooks: where they live, and running them with papermill.

The notebooks come from the source tree's ``notebooks/`` (editable install) or
``<prefix>/share/mitraseti/notebooks`` (regular install, see pyproject data-files).

``run_notebook`` validates the input first (so a bad file or parameter fails fast with the
same errors as :func:`mitraseti.pipeline.run`), then executes ``notebooks/pipeline.ipynb``
with typed parameters only, in the given kernel, with the output directory as working
directory; it keeps the executed ``report.ipynb`` and its ``report.html``
(:mod:`mitraseti.export.report`). Progress: the notebook writes
``{"stage", "fraction", "message", "time"}`` JSON to ``progress_path`` (atomically) as the
pipeline advances; a ``progress`` callable given without a ``progress_path`` is fed from a
private progress file by a small watcher thread.

``run_cadence_notebook`` does the same for a whole ON/OFF cadence with
``notebooks/cadence.ipynb`` (the REST service's cadence job): it checks the files form a
cadence (count, alternation, same fch1 / foff / nchans) before any kernel starts.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path

from mitraseti.atomic import move_into_place, temp_file_beside
from mitraseti.errors import ParameterError
from mitraseti.export.report import REPORT_HTML, REPORT_NOTEBOOK, write_report_html

log = logging.getLogger("mitraseti.notebooks")

NOTEBOOK_ENV = "MITRASETI_PIPELINE_NOTEBOOK"
CADENCE_NOTEBOOK = "cadence.ipynb"
PRIVATE_PROGRESS = ".progress.json"


def notebook_dirs() -> list[Path]:
    """Folders searched for notebooks, in order."""
    here = Path(__file__).resolve().parent
    return [here.parent / "notebooks", Path(sys.prefix) / "share" / "mitraseti" / "notebooks"]


def find_notebook(name: str) -> Path | None:
    """Path of notebook ``name`` (e.g. ``"pipeline.ipynb"``), or None if not installed."""
    for folder in notebook_dirs():
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def notebook_path() -> Path:
    """``$MITRASETI_PIPELINE_NOTEBOOK`` if set, else ``pipeline.ipynb`` from
    :func:`find_notebook` (the source tree's ``notebooks/`` or the
    installed ``<prefix>/share/mitraseti/notebooks``)."""
    if os.environ.get(NOTEBOOK_ENV):
        path = Path(os.environ[NOTEBOOK_ENV])
        if path.is_file():
            return path
        raise FileNotFoundError(f"{NOTEBOOK_ENV}={path}: no such notebook")
    path = find_notebook("pipeline.ipynb")
    if path is None:
        raise FileNotFoundError("pipeline notebook not found; looked in " +
                                ", ".join(str(d) for d in notebook_dirs()))
    return path


def cadence_notebook_path() -> Path:
    """``notebooks/cadence.ipynb`` (source tree or installed copy)."""
    path = find_notebook(CADENCE_NOTEBOOK)
    if path is None:
        raise FileNotFoundError("cadence notebook not found; looked in " +
                                ", ".join(str(d) for d in notebook_dirs()))
    return path


class _ProgressForwarder(threading.Thread):
    """Polls a progress file and calls ``callback(stage, fraction, message)`` on change."""

    def __init__(self, path: Path, callback, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.path, self.callback, self.interval = path, callback, interval
        self._stop_event = threading.Event()
        self._last = None

    def poll(self) -> None:
        try:
            text = self.path.read_text()
        except OSError:
            return
        if text != self._last:
            self._last = text
            try:
                step = json.loads(text)
            except ValueError:
                return
            self.callback(step.get("stage", ""), float(step.get("fraction", 0.0)),
                          step.get("message", ""))

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.poll()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.poll()


def _check_kernel(kernel_name: str) -> None:
    """Raise ParameterError unless a Jupyter kernel ``kernel_name`` is installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel as exc:
        raise ParameterError(f"kernel_name: no Jupyter kernel named {kernel_name!r} is "
                             "installed (see `jupyter kernelspec list`)",
                             parameter="kernel_name", expected="an installed Jupyter kernel",
                             got=kernel_name) from exc


def _unknown_parameters(unknown: dict, expected: str) -> ParameterError:
    """The error for keyword arguments a notebook does not take (names the first one)."""
    first = sorted(unknown)[0]
    return ParameterError(f"unknown parameter(s) {sorted(unknown)}: expected {expected}",
                          parameter=first, expected=f"one of {expected}", got=unknown[first])


def notebook_parameters(path, out_dir, params, progress_path: str) -> dict:
    """Typed papermill parameters (floats, ints, strings only; 0 / "" mean "from file")."""
    return {
        "input_path": str(Path(path).resolve()), "output_dir": str(Path(out_dir).resolve()),
        "max_drift": float(params.max_drift), "min_drift": float(params.min_drift),
        "snr": float(params.snr), "n_coarse_chan": int(params.n_coarse_chan or 0),
        "source_name": "", "progress_path": progress_path,
    }


def run_notebook(path, out_dir, *, max_drift: float = 4.0, min_drift: float = 0.0,
                 snr: float = 10.0, n_coarse_chan: int | None = None,
                 source_name: str | None = None, kernel_name: str = "python3",
                 progress=None, progress_path: str | None = None, progress_bar: bool = False,
                 html: bool = True, kernel_manager=None, **unknown) -> Path:
    """Execute the pipeline notebook on ``path`` into ``out_dir``; returns the path of the
    executed ``report.ipynb`` (also kept when the notebook fails, then the error is
    re-raised). Writes ``report.html`` when ``html``. Raises ParameterError /
    ObservationFormatError before starting the kernel when the input is bad.
    ``kernel_manager``: a started jupyter_client (Async)KernelManager to run on instead of
    starting a kernel; the caller owns it (it is not shut down) and sets its working
    directory."""
    from mitraseti.io import open_observation
    from mitraseti.pipeline import make_params

    if unknown:
        raise _unknown_parameters(unknown, "max_drift, min_drift, snr, n_coarse_chan, "
                                           "source_name")
    params = make_params(max_drift, min_drift, snr, n_coarse_chan)
    _check_kernel(kernel_name)
    with open_observation(path, n_coarse_chan=params.n_coarse_chan):
        pass
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parameters = notebook_parameters(path, out, params, progress_path or "")
    parameters["source_name"] = source_name or ""
    return _execute(notebook_path(), out, parameters, kernel_name=kernel_name,
                    progress=progress, progress_path=progress_path,
                    progress_bar=progress_bar, html=html, kernel_manager=kernel_manager)


def _execute(notebook: Path, out: Path, parameters: dict, *, kernel_name: str, progress,
             progress_path: str | None, progress_bar: bool, html: bool,
             kernel_manager) -> Path:
    """Execute ``notebook`` into ``out``/report.ipynb with papermill; ``progress_path`` is
    added to ``parameters`` (a private progress file feeding ``progress`` when none)."""
    import papermill as pm

    forwarder = None
    if not progress_path and progress is not None:
        progress_path = str(out / PRIVATE_PROGRESS)
        forwarder = _ProgressForwarder(Path(progress_path), progress)
        forwarder.start()
    parameters = dict(parameters, progress_path=progress_path or "")
    report = out / REPORT_NOTEBOOK
    fd, tmp = temp_file_beside(report, suffix=".part.ipynb")  # papermill wants .ipynb
    os.close(fd)
    existing = {} if kernel_manager is None else {"km": kernel_manager}  # nbclient's km
    failed = True
    try:
        pm.execute_notebook(str(notebook), str(tmp), parameters=parameters,
                            kernel_name=kernel_name, progress_bar=progress_bar,
                            cwd=str(out), log_output=False, **existing)
        failed = False
    finally:
        if forwarder is not None:
            forwarder.stop()
            Path(progress_path).unlink(missing_ok=True)
        if tmp.stat().st_size == 0:    # papermill stopped before writing anything
            tmp.unlink()
        else:
            move_into_place(tmp, report)
            if html:
                try:
                    write_report_html(report, out / REPORT_HTML)
                except Exception:  # noqa: BLE001 - never hide the notebook's own error
                    if not failed:
                        raise
                    log.exception("could not render %s to HTML", report)
    return report


def run_cadence_notebook(paths, out_dir, *, filter_level: int = 3, max_drift: float = 4.0,
                         min_drift: float = 0.0, snr: float = 10.0,
                         n_coarse_chan: int | None = None, source_name: str | None = None,
                         kernel_name: str = "python3", progress=None,
                         progress_path: str | None = None, progress_bar: bool = False,
                         html: bool = True, kernel_manager=None, **unknown) -> Path:
    """Execute ``notebooks/cadence.ipynb`` on the cadence ``paths`` (observing order, ON
    first) into ``out_dir``; returns the executed report.ipynb (kept when the notebook
    fails, then the error is re-raised). Before any kernel starts, raises ParameterError
    for bad parameters and CadenceError (or the reader's ObservationFormatError) when the
    files do not form a cadence: too few, odd count, different fch1 / foff / nchans.
    Other arguments as :func:`run_notebook`."""
    from mitraseti.pipeline import make_params
    from mitraseti.cadence_job import check_files

    if unknown:
        raise _unknown_parameters(unknown, "filter_level, max_drift, min_drift, snr, "
                                           "n_coarse_chan, source_name")
    if isinstance(filter_level, bool) or filter_level not in (1, 2, 3):
        raise ParameterError(parameter="filter_level", expected="1, 2 or 3", got=filter_level)
    params = make_params(max_drift, min_drift, snr, n_coarse_chan)
    _check_kernel(kernel_name)
    paths = [str(Path(p).resolve()) for p in paths]
    check_files(paths, params.n_coarse_chan)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parameters = {
        "input_paths": paths, "output_dir": str(out.resolve()),
        "filter_level": int(filter_level), "max_drift": float(params.max_drift),
        "min_drift": float(params.min_drift), "snr": float(params.snr),
        "n_coarse_chan": int(params.n_coarse_chan or 0), "source_name": source_name or "",
    }
    return _execute(cadence_notebook_path(), out, parameters, kernel_name=kernel_name,
                    progress=progress, progress_path=progress_path,
                    progress_bar=progress_bar, html=html, kernel_manager=kernel_manager)
