"""Search parameters with validation (clear errors naming the parameter)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from mitraseti.errors import ParameterError

__all__ = ["ParameterError", "SearchParams"]


@dataclass(frozen=True)
class SearchParams:
    """max_drift, min_drift: Hz/s (absolute values); snr: detection threshold;
    n_coarse_chan: coarse channels in the file (None: from the file's nfpc, else 1);
    matched_filter: also run the smearing-aware boxcar search (and the time-segment
    search for signals that leave the band); blank_dc: replace the DC bin of BL-like
    coarse channels (power-of-two nfpc) by the mean of its neighbours before searching;
    baseline: remove the spectral baseline (bandpass, DC spike, broadband features) and
    measure S/N against the local noise (False: one noise figure for the whole block)."""

    max_drift: float = 4.0
    min_drift: float = 0.0
    snr: float = 10.0
    n_coarse_chan: int | None = None
    matched_filter: bool = True
    blank_dc: bool = True
    baseline: bool = True

    def __post_init__(self) -> None:
        for name in ("max_drift", "min_drift", "snr"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ParameterError(parameter=name, expected="a finite number", got=v)
        if self.max_drift <= 0:
            raise ParameterError(parameter="max_drift", expected="> 0 Hz/s", got=self.max_drift)
        if self.min_drift < 0:
            raise ParameterError(parameter="min_drift", expected=">= 0 Hz/s", got=self.min_drift)
        if self.min_drift > self.max_drift:
            raise ParameterError(
                f"min_drift ({self.min_drift}) must not exceed max_drift ({self.max_drift})",
                parameter="min_drift", expected=f"<= max_drift ({self.max_drift})",
                got=self.min_drift)
        if self.snr <= 0:
            raise ParameterError(parameter="snr", expected="> 0", got=self.snr)
        if self.n_coarse_chan is not None:
            n = self.n_coarse_chan
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ParameterError(parameter="n_coarse_chan", expected="a positive integer",
                                     got=n)
        for name in ("matched_filter", "blank_dc", "baseline"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(parameter=name, expected="True or False",
                                     got=getattr(self, name))

    def to_dict(self) -> dict:
        return asdict(self)
