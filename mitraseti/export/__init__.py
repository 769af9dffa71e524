"""Every export of a pipeline run, each written atomically (:mod:`mitraseti.atomic`).

``write_all(result, out_dir)`` (:mod:`.writers`) writes all of them and returns
``{format: path}`` with the format names of the download table
(:mod:`mitraseti.export.formats`, the one place that names export files) plus ``stamp_XX``:

=================  =======================  ==========================================
format             file                     writer
=================  =======================  ==========================================
json               results.json             :func:`write_results_json`
csv                signals.csv              :func:`write_signals_csv`
catalog_json       catalog.json             :func:`write_catalog_json`
classified         classified.json          :func:`write_classified_json`
fits               catalog.fits             :func:`write_catalog_fits`
waterfall          waterfall.png            :func:`write_waterfall`
waterfall_thumb    waterfall_thumb.png      :func:`write_thumbnail`
dat                hits.dat                 :func:`write_hits_dat` (turboSETI layout)
stamp_00 ...       stamps/cand_00.png ...   :func:`write_stamps` (one per top candidate)
=================  =======================  ==========================================
"""
from __future__ import annotations

from importlib import import_module

# Public name -> submodule, imported on first use (PEP 562) so that light submodules such
# as ``mitraseti.export.formats`` (the download table) import without numpy or numba.
_EXPORTS = {
    "FILENAMES": "writers", "STAMP_DIR": "writers", "write_all": "writers",
    "PipelineResult": "result", "SCHEMA_PATH": "tables", "write_catalog_json": "tables",
    "write_classified_json": "tables", "write_results_json": "tables",
    "write_signals_csv": "tables", "write_hits_dat": "dat", "write_catalog_fits": "fits",
    "write_stamps": "images", "write_thumbnail": "images", "write_waterfall": "images",
}

__all__ = [
    "FILENAMES", "PipelineResult", "SCHEMA_PATH", "STAMP_DIR", "write_all",
    "write_catalog_fits", "write_catalog_json", "write_classified_json", "write_hits_dat", "write_results_json",
    "write_signals_csv", "write_stamps", "write_thumbnail", "write_waterfall",
]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
