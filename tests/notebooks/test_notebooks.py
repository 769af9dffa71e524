"""Run the user-facing notebooks with nbval (``--nbval-lax``: only cells marked
``# NBVAL_CHECK_OUTPUT`` are compared with their stored output), each in a subprocess so a
kernel or server they start cannot leak into this test session."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ["explore.ipynb", "tutorial.ipynb", "dashboard.ipynb", "pipeline.ipynb",
             "cadence.ipynb"]
# Notebooks that write files next to themselves run from a copy in a temporary folder.
RUN_FROM_COPY = {"pipeline.ipynb", "cadence.ipynb"}
EXPORTS = {"pipeline.ipynb": ("results.json", "signals.csv", "catalog.fits", "waterfall.png",
                              "hits.dat"),
           "cadence.ipynb": ("results.json", "signals.csv", "events.csv", "events_png.zip")}


def run_nbval(path: Path, timeout: float = 500) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("MITRASETI_API_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(path.parent), "-c", os.devnull, str(path)],
        cwd=path.parent, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_checked_outputs_match(name, tmp_path):
    path = ROOT / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    if name in RUN_FROM_COPY:
        path = tmp_path / name
        nbformat.write(nb, path)
    checked = [c for c in nb.cells if c.cell_type == "code"
               and "# NBVAL_CHECK_OUTPUT" in c.source]
    assert all(c.outputs for c in checked), f"{name}: a checked cell has no expected output"
    result = run_nbval(path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # their default runs (generated demos) leave their exports
    for export in EXPORTS.get(name, ()):
        out = tmp_path / name.replace(".ipynb", "_results")
        assert (out / export).is_file(), f"{name} wrote no {export}"


def test_nbval_catches_a_wrong_checked_output(tmp_path):
    """The harness is not vacuous: a checked cell whose output differs fails the run."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(6 * 7)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="41\n")]
    cell.execution_count = 1
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "wrong.ipynb"
    nbformat.write(nb, path)
    result = run_nbval(path, timeout=120)
    assert result.returncode != 0 and "41" in result.stdout
