"""The record of one detected signal, shared by search, classification and export.

Field names and units follow docs/signals.md: every export uses these names.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DEDOPPLER = "dedoppler"
MATCHED_FILTER = "matched_filter"

# Columns of signals.csv, in order (docs/signals.md + the API reference's CSV head).
CSV_COLUMNS = [
    "source_name", "frequency_hz", "drift_rate", "snr", "classification", "interestingness",
    "confidence", "bandwidth_hz", "rfi_source", "source", "coarse_channel", "channel_index",
    "start_time_mjd",
]


@dataclass
class Hit:
    """One detection.

    frequency_hz: frequency at t = 0 (first spectrum), Hz.
    drift_rate: Hz/s, positive when frequency rises with time whatever the sign of foff.
    snr: integrated S/N along the drift path (turboSETI's definition).
    bandwidth_hz: occupied width of the de-drifted signal, Hz.
    channel_index: fine-channel index in the whole file at t = 0.
    coarse_channel: coarse channel the hit was found in.
    drift_index: signed index on the detecting stage's drift grid, in units of its step
        hop * df / ((T2 - 1) dt) (T2: spectra padded to a power of two; hop 1 except for
        decimated matched-filter stages); see mitraseti/search/drift_grid.py.
    boxcar_width: channels summed by the matched filter (1 for the plain tree).
    source: which detector found it: "dedoppler" or "matched_filter".
    n_merged: raw hits merged into this filtered hit (1 for a raw hit).
    spectrum_start, spectrum_count: the spectra the detecting path covers (a time-segment
        search reports a signal that leaves the band; count 0 means unknown / whole file).
    """

    frequency_hz: float
    drift_rate: float
    snr: float
    channel_index: int
    coarse_channel: int = 0
    bandwidth_hz: float = 0.0
    drift_index: int = 0
    boxcar_width: int = 1
    source: str = DEDOPPLER
    start_time_mjd: float = 0.0
    # filled by classification (mitraseti.signals)
    classification: str = ""
    confidence: float = 0.0
    interestingness: float = 0.0
    rfi_source: str = ""
    probabilities: dict[str, float] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    n_merged: int = 1
    spectrum_start: int = 0
    spectrum_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The fields of a `top_candidates` entry in the API reference."""
        return {
            "frequency_hz": self.frequency_hz, "drift_rate": self.drift_rate,
            "snr": self.snr, "classification": self.classification,
            "interestingness": self.interestingness, "rfi_source": self.rfi_source,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Hit":
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in d.items() if k in names})
