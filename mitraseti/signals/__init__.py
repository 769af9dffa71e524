"""Signal classification: nine labels (SIGNALS.md), RFI bands, interestingness, cadence.

    classify_hits(hits, data, header, channel_offset=0, model=None)  # fills hits in place
    RfiBands.load(), interestingness(hit), top_candidates(hits)
    run_cadence([ON1, OFF1, ON2, OFF2, ON3, OFF3], out_dir=None, filter_level=3)
    load_model(path=None), ModelLoadError, compute_features, stamps, FEATURE_NAMES
"""
from .cadence import CadenceError, CadenceEvent, CadenceResult, run_cadence
from .classify import classify_hits
from .features import FEATURE_NAMES, compute_features, stamps
from .interest import interestingness, top_candidates
from .model import ModelLoadError
from .model import load as load_model
from .rfi import RfiBand, RfiBandError, RfiBands
from .taxonomy import CANDIDATE_LABELS, LABELS, MORPHOLOGIES, SignalClass

__all__ = [
    "SignalClass", "LABELS", "MORPHOLOGIES", "CANDIDATE_LABELS", "classify_hits",
    "compute_features", "stamps", "FEATURE_NAMES", "interestingness", "top_candidates", "RfiBands",
    "RfiBand", "RfiBandError", "run_cadence", "CadenceResult", "CadenceEvent",
    "CadenceError", "load_model", "ModelLoadError",
]
