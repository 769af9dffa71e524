"""The download formats of a job: format name -> file name of the export.

One table for every module that names an export: the pipeline and the cadence job write
these files, the REST service stores and serves them, the client and the dashboard ask
for them. ``INLINE_FORMATS`` are sent in the response body as text/csv instead of through
a signed URL. Cadence jobs add ``events`` and ``events_png`` (a zip of one PNG per event);
``notebook`` is the executed report.
"""
from __future__ import annotations

DOWNLOAD_FORMATS: dict[str, str] = {
    "json": "results.json", "csv": "signals.csv", "catalog_json": "catalog.json",
    "classified": "classified.json", "fits": "catalog.fits", "waterfall": "waterfall.png",
    "waterfall_thumb": "waterfall_thumb.png", "dat": "hits.dat", "notebook": "report.ipynb",
    "events": "events.csv", "events_png": "events_png.zip",
}
INLINE_FORMATS: tuple[str, ...] = ("csv", "events")
