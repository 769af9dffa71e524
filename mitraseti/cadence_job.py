"""A whole ON/OFF cadence as one job: search every file with the pipeline, match hits
across files (:func:`mitraseti.signals.cadence.run_cadence`), write the job's exports.

This is what ``notebooks/cadence.ipynb`` (the REST service's cadence job) calls:

    results = search_files(paths, params, progress)        # one PipelineResult per file
    cad = match_events(results, filter_level, params)      # relabels hits in place
    outputs = write_outputs(results, cad, out_dir, params)  # format -> path

Exports (download format -> file): ``json`` results.json (summary, every file's hits with
their own labels, every event), ``csv`` signals.csv (every file's filtered hits, with
``file`` and ``role`` columns), ``events`` events.csv (one row per event),
``events_png`` events_png.zip (one stacked-waterfall PNG per event, ``event_NNNN.png``).
Frequencies in Hz at the first spectrum of the file that holds the hit, drift rates Hz/s.
"""
from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from mitraseti.export.formats import DOWNLOAD_FORMATS
from mitraseti.search.hit import CSV_COLUMNS
from mitraseti.search.params import SearchParams
from mitraseti.signals.cadence import (EVENT_COLUMNS, CadenceError, CadenceFile,
                                       check_cadence, run_cadence)
from mitraseti.taxonomy import CANDIDATE_LABELS, SignalClass

FILENAMES = {fmt: DOWNLOAD_FORMATS[fmt] for fmt in ("json", "csv", "events", "events_png")}
TOP_EVENTS = 20          # length of ``top_events`` (like ``top_candidates``)
MIN_FILES = 4
Progress = Callable[[str, float, str], None]
# share of the overall progress each pipeline stage of one file takes (start, width)
_STAGE_SPAN = {"ingest": (0.0, 0.05), "dedoppler": (0.05, 0.6), "classify": (0.65, 0.35),
               "export": (1.0, 0.0)}


def role(index: int) -> str:
    """'ON' for even positions of a cadence (0, 2, ...), 'OFF' for odd ones."""
    return "OFF" if index % 2 else "ON"


def check_files(paths, n_coarse_chan: int | None = None) -> list[CadenceFile]:
    """Open every file's header and check the set is a usable cadence (at least
    ``MIN_FILES``, alternating, same fch1 / foff / nchans); raises CadenceError naming the
    file, or the reader's ObservationFormatError. Reads no data."""
    from mitraseti.io import open_observation

    paths = [Path(p) for p in paths]
    if len(paths) < MIN_FILES:
        raise CadenceError(f"a cadence job needs at least {MIN_FILES} files (ON, OFF, ON, "
                           f"OFF, ...), got {len(paths)}")
    files = []
    for k, path in enumerate(paths):
        if not path.is_file():
            raise CadenceError(f"cadence file {k + 1} ({path}) does not exist", file=path)
        with open_observation(path, n_coarse_chan=n_coarse_chan) as obs:
            files.append(CadenceFile(obs.header, None, path.name, path=path))
    check_cadence(files)
    return files


def search_files(paths, params: SearchParams, progress: Progress | None = None,
                 source_name: str | None = None) -> list:
    """Run the pipeline (search + classification, no exports) on every file in order;
    returns one PipelineResult per file. ``progress(stage, fraction, message)`` sees the
    whole cadence as 0..0.9."""
    from mitraseti import pipeline

    paths = [Path(p) for p in paths]
    results = []
    for k, path in enumerate(paths):
        def file_progress(stage, fraction, message="", k=k, name=path.name):
            if progress is None:
                return
            start, width = _STAGE_SPAN.get(stage, (0.0, 0.0))
            done = (k + start + width * float(fraction)) / len(paths)
            progress(stage, 0.9 * done, f"file {k + 1}/{len(paths)} {name} ({role(k)}): "
                                        f"{message}")
        results.append(pipeline.run(
            path, exports=False, max_drift=params.max_drift, min_drift=params.min_drift,
            snr=params.snr, n_coarse_chan=params.n_coarse_chan,
            source_name=source_name if k % 2 == 0 else None, progress=file_progress))
    return results


def match_events(results, filter_level: int, params: SearchParams):
    """Match the per-file hits (turboSETI find_event levels); relabels them in place
    (CANDIDATE_ET, 'cadence: seen in OFF'); returns the CadenceResult."""
    files = [CadenceFile(r.header, list(r.filtered_hits), Path(r.path).name,
                         path=Path(r.path)) for r in results]
    return run_cadence(files, out_dir=None, filter_level=filter_level, params=params,
                       plot=False)


def event_rank(ev) -> tuple:
    """Sort key, best first when reversed: CANDIDATE_ET, filter level, interestingness,
    S/N, then lower frequency."""
    h = ev.hit
    return (h.classification == SignalClass.CANDIDATE_ET.value, ev.filter_level,
            float(h.interestingness), float(h.snr), -float(h.frequency_hz))


def event_record(ev, files) -> dict:
    """One ``top_events`` entry: the event's hit (label, frequency, drift, S/N) and, per ON
    file in order, the matching hit's frequency (Hz), drift (Hz/s) and S/N (None: none)."""
    from mitraseti.export.result import jsonable

    h = ev.hit
    hits = {ev.file_index: h, **ev.matches}
    on_hits = []
    for k in range(0, len(files), 2):
        m = hits.get(k)
        on_hits.append(None if m is None else {
            "file": files[k].name, "frequency_hz": m.frequency_hz,
            "drift_rate": m.drift_rate, "snr": m.snr, "classification": m.classification})
    return jsonable({
        "event_id": ev.event_id, "frequency_hz": h.frequency_hz, "drift_rate": h.drift_rate,
        "snr": h.snr, "classification": h.classification,
        "interestingness": h.interestingness, "rfi_source": h.rfi_source,
        "filter_level": ev.filter_level, "seen_in_off": ev.seen_in_off,
        "file": files[ev.file_index].name, "on_hits": on_hits, "png": ev.png})


def ranked_events(cad) -> list:
    return sorted(cad.events, key=event_rank, reverse=True)


def summary(results, cad, seconds: float) -> dict:
    """The ``results`` object of the job: the single-file counts summed over the files
    (``processing_time_seconds``: ``seconds``, the whole job), ``top_candidates`` across
    files (each with its ``file``), ``events`` (count), ``top_events`` best first."""
    from mitraseti.export.result import jsonable, rank_key

    pairs = [(h, Path(r.path).name) for r in results for h in r.filtered_hits
             if h.classification in CANDIDATE_LABELS]
    pairs.sort(key=lambda p: rank_key(p[0]), reverse=True)
    return {
        "raw_hits": sum(len(r.raw_hits) for r in results),
        "filtered_hits": sum(len(r.filtered_hits) for r in results),
        "candidates": len(pairs),
        "processing_time_seconds": round(float(seconds), 3),
        "top_candidates": [jsonable({**h.summary(), "file": name}) for h, name in pairs[:20]],
        "events": len(cad.events),
        "top_events": [event_record(ev, cad.files) for ev in ranked_events(cad)[:TOP_EVENTS]],
        "filter_level": int(cad.filter_level),
    }


def _file_record(k: int, r) -> dict:
    return {"index": k, "role": role(k), "file": Path(r.path).name,
            "source_name": r.source_name, "header": r.header.to_dict(),
            "raw_hits": len(r.raw_hits), "filtered_hits": len(r.filtered_hits),
            "class_counts": r.class_counts(), "warnings": list(r.warnings),
            "processing_time_seconds": round(r.processing_time_seconds, 3),
            "signals": [h.to_dict() for h in r.filtered_hits]}


def results_document(results, cad, params: SearchParams, seconds: float) -> dict:
    """results.json of a cadence job: ``summary`` (the job's results), ``files`` (each
    file's role, header, counts and hits with their own labels), ``events``."""
    from mitraseti import __version__

    return {
        "software": {"name": "mitraseti", "version": __version__},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "kind": "cadence", "filter_level": int(cad.filter_level),
        "parameters": params.to_dict(), "summary": summary(results, cad, seconds),
        "files": [_file_record(k, r) for k, r in enumerate(results)],
        "events": [event_record(ev, cad.files) for ev in ranked_events(cad)],
    }


def signals_csv_text(results) -> str:
    """Every file's filtered hits: CSV_COLUMNS, then the file's name and role."""
    from mitraseti.export.result import jsonable

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*CSV_COLUMNS, "file", "role"])
    for k, r in enumerate(results):
        for h in r.filtered_hits:
            row = {**h.to_dict(), "source_name": r.source_name}
            w.writerow(["" if row.get(c) is None else jsonable(row[c]) for c in CSV_COLUMNS]
                       + [Path(r.path).name, role(k)])
    return buf.getvalue()


def events_csv_text(cad) -> str:
    """One row per event (best first): EVENT_COLUMNS, then ``snr_per_on`` (S/N in each ON
    file, ';'-separated, empty where the signal was not found)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[*EVENT_COLUMNS, "snr_per_on"], lineterminator="\n")
    w.writeheader()
    for ev in ranked_events(cad):
        on = event_record(ev, cad.files)["on_hits"]
        w.writerow({**ev.to_row(cad.files),
                    "snr_per_on": ";".join("" if m is None else f"{m['snr']:.3f}"
                                           for m in on)})
    return buf.getvalue()


def write_event_pngs(cad, path: Path) -> Path:
    """events_png.zip: the stacked-waterfall PNG of every event (``event_NNNN.png``)."""
    import tempfile

    from mitraseti.atomic import atomic_write_bytes
    from mitraseti.signals.cadence_plot import plot_event

    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="mitraseti-events-") as tmp, \
            zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for ev in ranked_events(cad):
            png = plot_event(ev, cad.files, Path(tmp) / f"event_{ev.event_id:04d}.png")
            ev.png = png.name
            zf.write(png, png.name)
    return atomic_write_bytes(path, buf.getvalue())


def write_outputs(results, cad, out_dir, params: SearchParams,
                  progress: Progress | None = None, started: float | None = None
                  ) -> dict[str, Path]:
    """Write the job's exports into ``out_dir`` (atomically); returns format -> path.
    ``started``: time.perf_counter() when the job began (for processing_time_seconds)."""
    from mitraseti.atomic import atomic_write_text
    from mitraseti.export.result import jsonable

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress = progress or (lambda *a: None)
    progress("export", 0.9, f"drawing {len(cad.events)} event waterfall(s)")
    outputs = {"events_png": write_event_pngs(cad, out / FILENAMES["events_png"])}
    outputs["events"] = atomic_write_text(out / FILENAMES["events"], events_csv_text(cad))
    outputs["csv"] = atomic_write_text(out / FILENAMES["csv"], signals_csv_text(results))
    seconds = (time.perf_counter() - started if started is not None
               else sum(r.processing_time_seconds for r in results))
    doc = results_document(results, cad, params, seconds)
    outputs["json"] = atomic_write_text(out / FILENAMES["json"],
                                        json.dumps(jsonable(doc), indent=2, allow_nan=False) + "\n")
    progress("export", 1.0, f"{len(outputs)} files written to {out}")
    return outputs


def run_job(paths, out_dir, filter_level: int = 3, params: SearchParams = SearchParams(),
            progress: Progress | None = None, source_name: str | None = None):
    """The whole cadence job without a notebook: (results, CadenceResult, outputs)."""
    started = time.perf_counter()
    check_files(paths, params.n_coarse_chan)
    results = search_files(paths, params, progress, source_name)
    if progress is not None:
        progress("cadence", 0.9, f"matching hits across {len(results)} files")
    cad = match_events(results, filter_level, params)
    return results, cad, write_outputs(results, cad, out_dir, params, progress, started)
