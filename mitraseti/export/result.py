"""The record one pipeline run produces, from which every export is written.

``PipelineResult`` is built by :mod:`mitraseti.pipeline` and consumed by the writers in this
package (and by the REST server through :meth:`PipelineResult.summary`). It lives here, not in
``pipeline.py``, so the writers can be used (and tested) without running a search.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mitraseti.io.header import ObservationHeader
from mitraseti.search.hit import Hit
from mitraseti.search.params import SearchParams
from mitraseti.taxonomy import CANDIDATE_LABELS

SOFTWARE = "mitraseti"
TOP_N = 20  # top_candidates length (API reference)
STAGES = ("ingest", "dedoppler", "classify", "export")


def rank_key(hit: Hit) -> tuple:
    """Sort key for candidates, best first when sorted in reverse.

    Interestingness first, then S/N, then lower frequency (the order of
    ``mitraseti.signals.top_candidates``); the last fields only make the order total so
    that the stamp keeper and the final ranking always agree.
    """
    return (float(hit.interestingness), float(hit.snr), -float(hit.frequency_hz),
            float(hit.drift_rate), str(hit.source))


def is_candidate(hit: Hit) -> bool:
    """A filtered hit whose label is NARROWBAND_DRIFTING or CANDIDATE_ET (docs/signals.md)."""
    return hit.classification in CANDIDATE_LABELS


def select_top(candidates: list[Hit], n: int = TOP_N) -> list[Hit]:
    """The ``n`` best candidates by :func:`rank_key`, best first."""
    return sorted(candidates, key=rank_key, reverse=True)[:n]


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths and bytes to JSON types; NaN and inf become None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


@dataclass
class PipelineResult:
    """Everything one run found. Times in seconds; ``waterfall`` and ``stamps`` are the
    display products computed while the data were in memory (see ``waterfall.py`` and
    ``stamps.py``); ``warnings`` lists every stage that ran degraded (never silent)."""

    path: Path
    header: ObservationHeader
    params: SearchParams
    source_name: str
    raw_hits: list[Hit] = field(default_factory=list)
    filtered_hits: list[Hit] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    waterfall: Any = None            # export.waterfall.Waterfall or None
    stamps: dict[int, Any] = field(default_factory=dict)  # id(hit) -> export.stamps.Stamp
    n_coarse_channels: int = 1
    nfpc: int = 0
    classified: bool = True          # False when the classification stage was unavailable
    coarse_channels: dict[str, Any] = field(default_factory=dict)  # Channelisation.to_dict()
    search_plan: dict[str, Any] = field(default_factory=dict)  # driver.SearchPlan.to_dict()
    baseline: dict[str, Any] = field(default_factory=dict)  # DC channels, broadband features

    @property
    def candidates(self) -> list[Hit]:
        """Filtered hits labelled NARROWBAND_DRIFTING or CANDIDATE_ET, in search order."""
        return [h for h in self.filtered_hits if is_candidate(h)]

    @property
    def top_candidates(self) -> list[Hit]:
        """Up to 20 candidates, most interesting first."""
        return select_top(self.candidates)

    @property
    def processing_time_seconds(self) -> float:
        """Sum of the stage timings, s."""
        return float(sum(self.timings.get(s, 0.0) for s in STAGES))

    @property
    def file_name(self) -> str:
        return Path(self.path).name

    def class_counts(self) -> dict[str, int]:
        """Number of filtered hits per label (only labels that occur)."""
        counts: dict[str, int] = {}
        for h in self.filtered_hits:
            label = h.classification or "UNCLASSIFIED"
            counts[label] = counts.get(label, 0) + 1
        return dict(sorted(counts.items()))

    def summary(self) -> dict[str, Any]:
        """The ``results`` object of ``GET /jobs/{id}`` (API reference), JSON-ready."""
        return {
            "raw_hits": len(self.raw_hits),
            "filtered_hits": len(self.filtered_hits),
            "candidates": len(self.candidates),
            "processing_time_seconds": round(self.processing_time_seconds, 3),
            "top_candidates": [jsonable(h.summary()) for h in self.top_candidates],
        }

    def coarse_channels_record(self) -> dict[str, Any]:
        """results.json ``coarse_channels``: ``n``, ``nfpc`` and ``source`` (how the band
        was split: file attribute, parameter, inferred product rule or default)."""
        if self.coarse_channels:
            return dict(self.coarse_channels)
        return {"n": int(self.n_coarse_channels), "nfpc": int(self.nfpc),
                "source": "not recorded"}

    def stamp_for(self, hit: Hit):
        """The stamp computed for ``hit`` during the run, or None."""
        return self.stamps.get(id(hit))
