"""Text exports: results.json, signals.csv, catalog.json and classified.json.

Field names follow docs/signals.md (frequency_hz in Hz at t = 0, drift_rate in Hz/s, ...). The
layout of results.json is documented by ``schemas/results.schema.json``.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mitraseti import __version__
from mitraseti.atomic import atomic_write_text
from mitraseti.export.result import SOFTWARE, jsonable
from mitraseti.export.sky import galactic, ra_hours, sexagesimal
from mitraseti.search.hit import CSV_COLUMNS
from mitraseti.taxonomy import LABELS

SCHEMA_PATH = Path(__file__).with_name("schemas") / "results.schema.json"


def _dump(obj: Any) -> str:
    return json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"


def _software() -> dict[str, str]:
    return {"name": SOFTWARE, "version": __version__}


def results_document(result) -> dict[str, Any]:
    """The content of results.json (see schemas/results.schema.json)."""
    summary = result.summary()
    return {
        "software": _software(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "file": result.file_name,
        "source_name": result.source_name,
        "header": result.header.to_dict(),
        "parameters": result.params.to_dict(),
        "n_coarse_channels": int(result.n_coarse_channels),
        "nfpc": int(result.nfpc),
        "coarse_channels": result.coarse_channels_record(),
        "search_plan": dict(result.search_plan),
        "baseline": dict(result.baseline),
        "raw_hits": summary["raw_hits"],
        "filtered_hits": summary["filtered_hits"],
        "candidates": summary["candidates"],
        "processing_time_seconds": summary["processing_time_seconds"],
        "timings": {k: round(float(v), 6) for k, v in result.timings.items()},
        "class_counts": result.class_counts(),
        "warnings": list(result.warnings),
        "top_candidates": summary["top_candidates"],
        "raw_hit_list": [h.to_dict() for h in result.raw_hits],
        "signals": [h.to_dict() for h in result.filtered_hits],
    }


def write_results_json(result, path: str | Path) -> Path:
    """results.json: header, parameters, counts, timings, top candidates, all hits."""
    return atomic_write_text(path, _dump(results_document(result)))


def signals_csv_text(result) -> str:
    """signals.csv content: header row CSV_COLUMNS, one row per filtered hit."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for h in result.filtered_hits:
        row = h.to_dict()
        row["source_name"] = result.source_name
        writer.writerow(["" if row.get(c) is None else jsonable(row.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def write_signals_csv(result, path: str | Path) -> Path:
    return atomic_write_text(path, signals_csv_text(result))


def sky_position(header) -> dict[str, Any]:
    """RA/Dec of the pointing (J2000 assumed, as SIGPROC headers give): degrees,
    sexagesimal strings, and galactic l/b in degrees."""
    ra, dec = float(header.ra_deg) % 360.0, float(header.dec_deg)
    gal_l, gal_b = galactic(ra, dec)
    return {
        "ra_deg": ra, "dec_deg": dec,
        "ra_hms": sexagesimal(ra_hours(ra), precision=2, sep=":", pad=True),
        "dec_dms": sexagesimal(dec, precision=1, sep=":", pad=True, alwayssign=True),
        "gal_l_deg": gal_l, "gal_b_deg": gal_b,
    }


def _observation(result) -> dict[str, Any]:
    h = result.header
    return {
        "file": result.file_name, "source_name": result.source_name,
        "telescope": h.telescope, "tstart_mjd": h.tstart, "fch1_mhz": h.fch1,
        "foff_mhz": h.foff, "nchans": h.nchans, "tsamp_s": h.tsamp,
        "n_spectra": h.n_spectra, "obs_length_s": h.obs_length_s, **sky_position(h),
    }


def catalog_document(result) -> dict[str, Any]:
    """catalog.json: one entry per filtered hit with sky position, S/N and labels."""
    pos = sky_position(result.header)
    entries = []
    for i, h in enumerate(result.filtered_hits):
        entries.append({
            "id": i, "source_name": result.source_name,
            "ra_deg": pos["ra_deg"], "dec_deg": pos["dec_deg"],
            "ra_hms": pos["ra_hms"], "dec_dms": pos["dec_dms"],
            "frequency_hz": h.frequency_hz, "frequency_mhz": h.frequency_hz / 1e6,
            "drift_rate": h.drift_rate, "snr": h.snr, "bandwidth_hz": h.bandwidth_hz,
            "classification": h.classification, "confidence": h.confidence,
            "interestingness": h.interestingness, "rfi_source": h.rfi_source,
            "source": h.source, "coarse_channel": h.coarse_channel,
            "channel_index": h.channel_index, "start_time_mjd": h.start_time_mjd,
        })
    return {"software": _software(), "observation": _observation(result),
            "n_signals": len(entries), "signals": entries}


def write_catalog_json(result, path: str | Path) -> Path:
    return atomic_write_text(path, _dump(catalog_document(result)))


def classified_document(result) -> dict[str, Any]:
    """classified.json: per signal the final label, morphology probabilities, confidence,
    features and detector (``source``; matched-filter hits keep their ``boxcar_width``)."""
    entries = []
    for i, h in enumerate(result.filtered_hits):
        entries.append({
            "id": i, "frequency_hz": h.frequency_hz, "drift_rate": h.drift_rate,
            "snr": h.snr, "classification": h.classification, "confidence": h.confidence,
            "probabilities": dict(h.probabilities), "features": dict(h.features),
            "interestingness": h.interestingness, "rfi_source": h.rfi_source,
            "source": h.source, "boxcar_width": h.boxcar_width, "n_merged": h.n_merged,
        })
    return {"software": _software(), "file": result.file_name,
            "source_name": result.source_name, "labels": LABELS,
            "classified": bool(result.classified), "class_counts": result.class_counts(),
            "n_signals": len(entries), "signals": entries}


def write_classified_json(result, path: str | Path) -> Path:
    return atomic_write_text(path, _dump(classified_document(result)))
