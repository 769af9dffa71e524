"""Signal classification: nine labels (docs/signals.md), RFI bands, interestingness, cadence.

    classify_hits(hits, data, header, channel_offset=0, model=None)  # fills hits in place
    RfiBands.load(), interestingness(hit), top_candidates(hits)
    run_cadence([ON1, OFF1, ON2, OFF2, ON3, OFF3], out_dir=None, filter_level=3)
    load_model(path=None), ModelLoadError, compute_features, stamps, FEATURE_NAMES
"""
from importlib import import_module

# Public name -> submodule (or, for the labels, the module that owns them). Imported on
# first use (PEP 562) so that importing a light
# submodule such as ``mitraseti.signals.commands`` (the CLI parsers) does not pull in numba
# and scikit-learn.
_EXPORTS = {
    "CadenceError": "cadence", "CadenceEvent": "cadence", "CadenceResult": "cadence",
    "run_cadence": "cadence", "classify_hits": "classify", "FEATURE_NAMES": "features",
    "compute_features": "features", "stamps": "features", "interestingness": "interest",
    "top_candidates": "interest", "ModelLoadError": "model", "RfiBand": "rfi",
    "RfiBandError": "rfi", "RfiBands": "rfi", "CANDIDATE_LABELS": "mitraseti.taxonomy",
    "LABELS": "mitraseti.taxonomy", "MORPHOLOGIES": "mitraseti.taxonomy",
    "SignalClass": "mitraseti.taxonomy",
}
_RENAMED = {"load_model": ("model", "load")}

__all__ = [
    "SignalClass", "LABELS", "MORPHOLOGIES", "CANDIDATE_LABELS", "classify_hits",
    "compute_features", "stamps", "FEATURE_NAMES", "interestingness", "top_candidates", "RfiBands",
    "RfiBand", "RfiBandError", "run_cadence", "CadenceResult", "CadenceEvent",
    "CadenceError", "load_model", "ModelLoadError",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        module = _EXPORTS[name]
        value = getattr(import_module(module if "." in module else f".{module}", __name__),
                        name)
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
        value = getattr(import_module(f".{module}", __name__), attr)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
