"""The interestingness score in [0, 1] and the ranking of candidates.

    interestingness = M * S * R * C

* M, morphology: sum over morphologies of probability x weight, weights
  NARROWBAND_DRIFTING 1.0, CHIRP 0.5, PULSED 0.4, NARROWBAND_STATIONARY 0.3,
  BROADBAND 0.1, NOISE 0.0; M = 0 when the final label is NOISE.
* S, strength: 1 - exp(-snr / 30)  (S/N 10 -> 0.28, 30 -> 0.63, 100 -> 0.96).
* R, RFI: 0.1 when the path lies in a known RFI band (rfi_source names a band), else 1.
* C, cadence: 1.0 when the signal passed an ON/OFF cadence (label CANDIDATE_ET), 0.05 when
  it was seen in an OFF observation (rfi_source "cadence: seen in OFF"), 0.7 when no
  cadence was analysed (a single file).

So a strong narrowband drifting signal outside RFI bands scores about 0.7 from one file
and close to 1 once it passes a cadence; anything in an RFI band stays below 0.1.
"""
from __future__ import annotations

import numpy as np

from ..taxonomy import CANDIDATE_LABELS, MORPHOLOGIES, SignalClass

MORPHOLOGY_WEIGHTS = {
    SignalClass.NARROWBAND_DRIFTING.value: 1.0, SignalClass.CHIRP.value: 0.5,
    SignalClass.PULSED.value: 0.4, SignalClass.NARROWBAND_STATIONARY.value: 0.3,
    SignalClass.BROADBAND.value: 0.1, SignalClass.NOISE.value: 0.0,
}
SNR_SCALE = 30.0
RFI_FACTOR = 0.1
CADENCE_PASSED, CADENCE_SEEN_IN_OFF, CADENCE_NONE = 1.0, 0.05, 0.7
SEEN_IN_OFF = "cadence: seen in OFF"


def interestingness_arrays(probs: np.ndarray, snr, labels, rfi_sources) -> np.ndarray:
    """Vectorised score: probs (n, 6) in MORPHOLOGIES order, snr (n,), final labels (n,),
    rfi_source strings (n,)."""
    probs = np.asarray(probs, dtype=float).reshape(-1, len(MORPHOLOGIES))
    w = np.array([MORPHOLOGY_WEIGHTS[m] for m in MORPHOLOGIES])
    labels = np.asarray(labels, dtype=object)
    src = np.asarray(rfi_sources, dtype=object)
    m = probs @ w
    m = np.where(labels == SignalClass.NOISE.value, 0.0, m)
    s = 1.0 - np.exp(-np.clip(np.asarray(snr, dtype=float), 0, None) / SNR_SCALE)
    seen_off = src == SEEN_IN_OFF
    in_band = (src != "") & ~seen_off
    r = np.where(in_band, RFI_FACTOR, 1.0)
    c = np.where(labels == SignalClass.CANDIDATE_ET.value, CADENCE_PASSED,
                 np.where(seen_off, CADENCE_SEEN_IN_OFF, CADENCE_NONE))
    return np.clip(m * s * r * c, 0.0, 1.0)


def interestingness(hit) -> float:
    """Score of one classified hit (uses its probabilities, snr, classification, rfi_source)."""
    p = np.array([[float(hit.probabilities.get(k, 0.0)) for k in MORPHOLOGIES]])
    return float(interestingness_arrays(p, [hit.snr], [hit.classification],
                                        [hit.rfi_source or ""])[0])


def top_candidates(hits, n: int | None = 10):
    """Candidates (NARROWBAND_DRIFTING or CANDIDATE_ET), best interestingness first."""
    cands = [h for h in hits if h.classification in CANDIDATE_LABELS]
    cands.sort(key=lambda h: (-h.interestingness, -h.snr, h.frequency_hz))
    return cands if n is None else cands[:n]
