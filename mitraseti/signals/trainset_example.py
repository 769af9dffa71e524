"""One labelled training example, and what every example generator shares (noise models,
drift range). The generators: :mod:`.trainset` (through ``mitraseti.synth``) and
:mod:`.trainset_inject`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..io.header import ObservationHeader

TRAIN_NOISE = ("gaussian", "chi2", "bandpass", "gain_drift")
HELD_OUT_NOISE = ("chi2_lowdof", "lognormal", "impulsive")
MAX_DRIFT = 4.0  # Hz/s, the default search range


@dataclass
class Example:
    data: np.ndarray
    header: ObservationHeader
    label: str
    path: np.ndarray      # true channel (fractional) at the middle of each spectrum
    width_ch: float
    rfi: list = field(default_factory=list)  # (low, high) channels of interferers
    dirty: bool = False
    snr: float = 10.0     # injected S/N (the S/N of a hit located at the true path)
