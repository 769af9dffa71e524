"""The report export: the pipeline notebook executed by papermill (``report.ipynb``) and
its HTML rendering (``report.html``), written beside the other exports. The notebooks
report their progress through :func:`progress_file_writer`; running them is
:mod:`mitraseti.notebooks`.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

from mitraseti.atomic import atomic_write_text

REPORT_NOTEBOOK = "report.ipynb"
REPORT_HTML = "report.html"


def progress_file_writer(path: str | os.PathLike) -> Callable[[str, float, str], None]:
    """A pipeline ``progress`` callback that writes the latest step to ``path`` as JSON."""
    def write(stage: str, fraction: float, message: str = "") -> None:
        atomic_write_text(path, json.dumps({"stage": str(stage),
                                            "fraction": round(float(fraction), 4),
                                            "message": str(message), "time": time.time()}))
    return write


def write_report_html(notebook_file: str | os.PathLike, html_file: str | os.PathLike) -> Path:
    """Render an executed notebook to standalone HTML (nbconvert's HTML exporter)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook_file), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    return atomic_write_text(html_file, body)
