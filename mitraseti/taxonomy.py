"""The nine signal labels of docs/signals.md, in precedence order (first match wins).

Shared vocabulary: the simulator (:mod:`mitraseti.synth`) labels what it injects with them,
the classifier (:mod:`mitraseti.signals`) assigns them, the exports write them.
"""
from __future__ import annotations

from enum import Enum


class SignalClass(str, Enum):
    NOISE = "NOISE"
    RFI_SATELLITE = "RFI_SATELLITE"
    RFI_TERRESTRIAL = "RFI_TERRESTRIAL"
    CANDIDATE_ET = "CANDIDATE_ET"
    BROADBAND = "BROADBAND"
    PULSED = "PULSED"
    CHIRP = "CHIRP"
    NARROWBAND_STATIONARY = "NARROWBAND_STATIONARY"
    NARROWBAND_DRIFTING = "NARROWBAND_DRIFTING"


LABELS = [c.value for c in SignalClass]

# Labels the morphology classifier predicts (1 and 5-9 of docs/signals.md).
MORPHOLOGIES = [
    SignalClass.NOISE.value, SignalClass.BROADBAND.value, SignalClass.PULSED.value,
    SignalClass.CHIRP.value, SignalClass.NARROWBAND_STATIONARY.value,
    SignalClass.NARROWBAND_DRIFTING.value,
]

# A filtered hit with one of these labels counts as a candidate.
CANDIDATE_LABELS = {SignalClass.NARROWBAND_DRIFTING.value, SignalClass.CANDIDATE_ET.value}
