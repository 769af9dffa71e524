"""Where the project's notebooks live: the source tree's ``notebooks/`` (editable install)
or ``<prefix>/share/mitraseti/notebooks`` (regular install, see pyproject data-files)."""
from __future__ import annotations

import sys
from pathlib import Path


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
