"""notebooks/pipeline.ipynb: its structure, and ONE papermill execution (run_notebook) that
must produce every export plus report.ipynb and report.html."""
from __future__ import annotations

import json

import jsonschema
import nbformat
import papermill as pm
import pytest

from mitraseti import notebooks
from mitraseti.export import FILENAMES, SCHEMA_PATH
from mitraseti.search.params import ParameterError

PARAMETERS = {"input_path": "str", "output_dir": "str", "max_drift": "float", "snr": "float",
              "min_drift": "float", "n_coarse_chan": "int", "source_name": "str"}


def test_notebook_structure():
    path = notebooks.notebook_path()
    assert path.name == "pipeline.ipynb" and path.parent.name == "notebooks"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    inferred = pm.inspect_notebook(str(path))
    for name, type_name in PARAMETERS.items():
        assert inferred[name]["inferred_type_name"] == type_name, name
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for stage in ("pipeline.ingest(", "pipeline.dedoppler(", "pipeline.classify(",
                  "pipeline.export("):
        assert stage in code
    assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")  # stored clean


def test_run_notebook_rejects_bad_input_before_starting_a_kernel(small_obs, tmp_path):
    path, _ = small_obs
    with pytest.raises(ParameterError, match="max_drift"):
        notebooks.run_notebook(path, tmp_path, max_drift=0.0)
    with pytest.raises(ParameterError, match="colour"):
        notebooks.run_notebook(path, tmp_path, colour="red")
    with pytest.raises(ParameterError, match="no-such-kernel"):
        notebooks.run_notebook(path, tmp_path, kernel_name="no-such-kernel")
    with pytest.raises(FileNotFoundError):
        notebooks.run_notebook(tmp_path / "missing.fil", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_papermill_run_writes_every_export_and_the_report(small_obs, tmp_path):
    path, synth = small_obs
    steps = []
    report = notebooks.run_notebook(path, tmp_path, max_drift=4.0, snr=10.0,
                                   n_coarse_chan=synth.header.nchans // synth.header.nfpc,
                                   source_name="NB_SOURCE", kernel_name="python3",
                                   progress=lambda s, f, m: steps.append((s, f)))
    assert report == tmp_path / "report.ipynb"
    for name in list(FILENAMES.values()) + ["report.ipynb", "report.html"]:
        assert (tmp_path / name).stat().st_size > 0, name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files

    nb = nbformat.read(report, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert 'source_name = "NB_SOURCE"' in injected[0].source
    assert "snr = 10.0" in injected[0].source and "n_coarse_chan = 2" in injected[0].source
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 2        # the waterfall figures were drawn
    html = (tmp_path / "report.html").read_text()
    assert "<html" in html.lower() and "NB_SOURCE" in html

    doc = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))
    assert doc["source_name"] == "NB_SOURCE" and doc["filtered_hits"] >= len(synth.truth)
    # stage progress travelled from the kernel to our callback (polled: the last step is
    # always delivered, intermediate ones may be skipped)
    assert steps and steps[-1] == ("export", 1.0)
    assert {s for s, _ in steps} <= {"ingest", "dedoppler", "classify", "export"}
