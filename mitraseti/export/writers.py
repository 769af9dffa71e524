"""``write_all``: every export of a pipeline run into one folder (see :mod:`mitraseti.export`).
"""
from __future__ import annotations

import time
from pathlib import Path

from mitraseti.export.dat import write_hits_dat
from mitraseti.export.fits import write_catalog_fits
from mitraseti.export.formats import DOWNLOAD_FORMATS
from mitraseti.export.images import write_stamps, write_thumbnail, write_waterfall
from mitraseti.export.result import PipelineResult
from mitraseti.export.tables import (write_catalog_json, write_classified_json,
                                     write_results_json, write_signals_csv)

# format -> file name of the exports a pipeline run writes (the download table's names)
FILENAMES = {fmt: DOWNLOAD_FORMATS[fmt] for fmt in (
    "json", "csv", "catalog_json", "classified", "fits", "waterfall", "waterfall_thumb",
    "dat")}
STAMP_DIR = "stamps"

_WRITERS = {
    "csv": write_signals_csv, "catalog_json": write_catalog_json,
    "classified": write_classified_json, "fits": write_catalog_fits,
    "dat": write_hits_dat, "waterfall": write_waterfall, "waterfall_thumb": write_thumbnail,
}


def write_all(result: PipelineResult, out_dir: str | Path) -> dict[str, Path]:
    """Write every export of ``result`` into ``out_dir`` (created if needed).

    The time spent is added to ``result.timings["export"]`` before results.json is written
    last, so its ``processing_time_seconds`` covers the whole run. Also sets
    ``result.outputs``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    outputs: dict[str, Path] = {}
    for fmt, writer in _WRITERS.items():
        outputs[fmt] = writer(result, out / FILENAMES[fmt])
    stamps = write_stamps(result, out / STAMP_DIR)
    for path in stamps:
        outputs[path.stem.replace("cand_", "stamp_")] = path
    _remove_stale_stamps(out / STAMP_DIR, keep=set(stamps))
    result.timings["export"] = result.timings.get("export", 0.0) + time.perf_counter() - t0
    outputs["json"] = write_results_json(result, out / FILENAMES["json"])
    result.outputs = dict(sorted(outputs.items()))
    return result.outputs


def _remove_stale_stamps(stamp_dir: Path, keep: set[Path]) -> None:
    """Delete cand_XX.png left by an earlier run into the same directory."""
    if stamp_dir.is_dir():
        for old in stamp_dir.glob("cand_*.png"):
            if old not in keep:
                old.unlink(missing_ok=True)
