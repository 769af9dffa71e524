"""Hits for the explorer: loading them from pipeline results and colouring them by class."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Iterable

from mitraseti.taxonomy import LABELS

# One colour per label (colour-blind friendly where possible); unclassified hits are grey.
CLASS_COLOURS = {
    "CANDIDATE_ET": "#e41a1c",
    "NARROWBAND_DRIFTING": "#ff7f00",
    "NARROWBAND_STATIONARY": "#ffff33",
    "CHIRP": "#a65628",
    "PULSED": "#f781bf",
    "BROADBAND": "#984ea3",
    "RFI_TERRESTRIAL": "#4daf4a",
    "RFI_SATELLITE": "#377eb8",
    "NOISE": "#999999",
}
UNCLASSIFIED_COLOUR = "#e377c2"
assert set(CLASS_COLOURS) == set(LABELS)

# Fields every hit row carries in the explorer (missing ones get these defaults).
HIT_DEFAULTS: dict[str, Any] = {
    "frequency_hz": 0.0, "drift_rate": 0.0, "snr": 0.0, "classification": "",
    "confidence": 0.0, "interestingness": 0.0, "bandwidth_hz": 0.0, "rfi_source": "",
    "source": "", "coarse_channel": None, "channel_index": None, "probabilities": {},
}


def _as_dict(hit: Any) -> dict:
    if isinstance(hit, dict):
        d = dict(hit)
    elif is_dataclass(hit):
        d = asdict(hit)
    elif hasattr(hit, "to_dict"):
        d = hit.to_dict()
    else:
        raise TypeError(f"a hit must be a dict or a Hit, got {type(hit).__name__}")
    if "frequency_hz" not in d:
        raise ValueError(f"hit has no 'frequency_hz' field: {sorted(d)}")
    out = {k: d.get(k, v) for k, v in HIT_DEFAULTS.items()}
    out["probabilities"] = dict(out["probabilities"] or {})
    for k in ("frequency_hz", "drift_rate", "snr", "confidence", "interestingness",
              "bandwidth_hz"):
        out[k] = float(out[k] or 0.0)
    return out


def normalise_hits(hits: Iterable[Any]) -> list[dict]:
    """Hits (``Hit`` objects or dicts) as plain dicts with every explorer field."""
    return [_as_dict(h) for h in hits]


def load_hits(results: Any) -> list[dict]:
    """Hits from a pipeline result: a results.json / classified.json path, its parsed dict,
    a ``PipelineResult``, or a list of hits. Prefers the filtered (classified) hits."""
    if results is None:
        return []
    if isinstance(results, (str, os.PathLike)):
        path = Path(results)
        try:
            results = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read results file {path}: {exc}") from exc
    if isinstance(results, list):
        return normalise_hits(results)
    if hasattr(results, "filtered_hits") and not isinstance(results, dict):
        return normalise_hits(results.filtered_hits)
    if isinstance(results, dict):
        for key in ("filtered_hits", "signals", "hits", "classified", "candidates",
                    "top_candidates"):
            value = results.get(key)
            if isinstance(value, list):
                return normalise_hits(value)
        if isinstance(results.get("results"), dict):   # a GET /jobs/{id} body
            return load_hits(results["results"])
        return []
    raise TypeError(f"cannot read hits from {type(results).__name__}")


def colour_of(label: str) -> str:
    return CLASS_COLOURS.get(label, UNCLASSIFIED_COLOUR)
