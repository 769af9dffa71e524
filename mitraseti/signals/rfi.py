"""Known radio-frequency-interference bands and matching a signal's path against them.

The package ships ``mitraseti/data/rfi_bands.csv`` (the bands of docs/signals.md, each with the
allocation that defines it). Users add their own bands without touching the package:

* ``MITRASETI_RFI_BANDS=/path/a.toml:/path/b.csv`` (``os.pathsep``-separated), and/or
* ``~/.mitraseti/rfi_bands.toml``.

TOML format (one ``[[band]]`` table per band; frequencies in MHz)::

    [[band]]
    name = "Site radar"
    kind = "terrestrial"          # or "satellite"
    low_mhz = 1400.10
    high_mhz = 1400.20
    allocation = "site survey 2024"

CSV format: header ``name,kind,low_mhz,high_mhz,allocation``; lines starting with ``#``
are comments.

Matching (docs/signals.md): a signal is in a band when any part of its path, from its frequency
at t = 0 to its frequency at the end of the observation, widened by half its bandwidth on
each side, overlaps the band. Satellite bands take precedence over terrestrial ones; among
bands of the same kind the narrowest match names the source.
"""
from __future__ import annotations

import csv
import io
import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..taxonomy import SignalClass

ENV_VAR = "MITRASETI_RFI_BANDS"
USER_FILE = Path("~/.mitraseti/rfi_bands.toml")
KINDS = {"satellite": SignalClass.RFI_SATELLITE.value,
         "terrestrial": SignalClass.RFI_TERRESTRIAL.value}


class RfiBandError(InputError, ValueError):
    """A band table is malformed; the message names the file and the entry. Field:
    ``source`` (the file, with the entry when one is at fault: ``"a.toml band #2"``)."""

    def __init__(self, message: str, *, source: str | Path) -> None:
        super().__init__(message, source=str(source))


@dataclass(frozen=True)
class RfiBand:
    """One allocation: ``low_mhz`` < ``high_mhz`` in MHz; ``kind`` satellite|terrestrial."""

    name: str
    kind: str
    low_mhz: float
    high_mhz: float
    allocation: str = ""

    @property
    def label(self) -> str:
        """The docs/signals.md label a match gives (RFI_SATELLITE or RFI_TERRESTRIAL)."""
        return KINDS[self.kind]

    @property
    def width_mhz(self) -> float:
        return self.high_mhz - self.low_mhz


def _band_from_mapping(d: dict, where: str) -> RfiBand:
    try:
        name = str(d["name"]).strip()
        kind = str(d["kind"]).strip().lower()
        lo, hi = float(d["low_mhz"]), float(d["high_mhz"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RfiBandError(f"{where}: each band needs name, kind, low_mhz, high_mhz "
                           f"(numbers in MHz); got {d!r} ({exc})", source=where) from None
    if kind not in KINDS:
        raise RfiBandError(f"{where}: band {name!r} has kind {kind!r}; expected "
                           f"'satellite' or 'terrestrial'", source=where)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise RfiBandError(f"{where}: band {name!r} needs low_mhz < high_mhz, got {lo}, {hi}",
                           source=where)
    return RfiBand(name, kind, lo, hi, str(d.get("allocation", "") or ""))


def _read_csv_text(text: str, where: str) -> list[RfiBand]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    return [_band_from_mapping(row, f"{where} line {i + 2}") for i, row in enumerate(reader)]


def read_band_file(path: str | Path) -> list[RfiBand]:
    """Bands from a user ``.toml`` (``[[band]]`` tables) or ``.csv`` file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise RfiBandError(f"RFI band file {p} does not exist", source=p)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".toml":
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RfiBandError(f"{p}: not valid TOML ({exc})", source=p) from None
        entries = doc.get("band", [])
        if not isinstance(entries, list):
            raise RfiBandError(f"{p}: expected [[band]] tables", source=p)
        return [_band_from_mapping(e, f"{p} band #{i + 1}") for i, e in enumerate(entries)]
    if p.suffix.lower() == ".csv":
        return _read_csv_text(text, str(p))
    raise RfiBandError(f"{p}: RFI band files must end in .toml or .csv", source=p)


class RfiBands:
    """A table of RFI bands with vectorised path matching."""

    def __init__(self, bands: list[RfiBand]):
        self.bands = list(bands)
        self._lo = np.array([b.low_mhz for b in self.bands], dtype=float) * 1e6
        self._hi = np.array([b.high_mhz for b in self.bands], dtype=float) * 1e6
        width = self._hi - self._lo
        # rank: satellites first, then narrowest first (docs/signals.md precedence)
        sat = np.array([b.kind == "satellite" for b in self.bands], dtype=bool)
        self._order = np.lexsort((width, ~sat)) if self.bands else np.zeros(0, int)

    def __len__(self) -> int:
        return len(self.bands)

    @classmethod
    def default(cls) -> "RfiBands":
        """Only the shipped table (no user additions)."""
        text = resources.files("mitraseti").joinpath("data/rfi_bands.csv").read_text("utf-8")
        return cls(_read_csv_text(text, "mitraseti/data/rfi_bands.csv"))

    @classmethod
    def load(cls, extra: list[str | Path] | None = None) -> "RfiBands":
        """Shipped table + ``~/.mitraseti/rfi_bands.toml`` + ``$MITRASETI_RFI_BANDS`` + extra."""
        bands = cls.default().bands
        paths: list[Path] = []
        user = USER_FILE.expanduser()
        if user.is_file():
            paths.append(user)
        env = os.environ.get(ENV_VAR, "")
        paths += [Path(p) for p in env.split(os.pathsep) if p.strip()]
        paths += [Path(p) for p in (extra or [])]
        for p in paths:
            bands += read_band_file(p)
        return cls(bands)

    def match_intervals(self, lo_hz: np.ndarray, hi_hz: np.ndarray) -> np.ndarray:
        """Index into ``self.bands`` of the band naming each interval, -1 for none.

        ``lo_hz``/``hi_hz``: arrays of interval edges in Hz (any order per element).
        """
        lo = np.minimum(lo_hz, hi_hz).astype(float)[:, None]
        hi = np.maximum(lo_hz, hi_hz).astype(float)[:, None]
        out = np.full(lo.shape[0], -1, dtype=int)
        if not self.bands or lo.shape[0] == 0:
            return out
        lo_b, hi_b = self._lo[self._order][None, :], self._hi[self._order][None, :]
        hit = (lo <= hi_b) & (hi >= lo_b)  # (n, bands) in precedence order
        any_hit = hit.any(axis=1)
        first = hit.argmax(axis=1)
        out[any_hit] = self._order[first[any_hit]]
        return out

    def match_path(self, frequency_hz: float, drift_rate: float, obs_length_s: float,
                   bandwidth_hz: float = 0.0) -> RfiBand | None:
        """The band naming a signal's path, or None (see the module docstring)."""
        idx = self.match_hits_arrays(np.array([frequency_hz]), np.array([drift_rate]),
                                     obs_length_s, np.array([bandwidth_hz]))[0]
        return self.bands[idx] if idx >= 0 else None

    def match_hits_arrays(self, frequency_hz, drift_rate, obs_length_s, bandwidth_hz):
        """Vectorised :meth:`match_path`: band indices (-1 none) for arrays of signals."""
        f0 = np.asarray(frequency_hz, dtype=float)
        f1 = f0 + np.asarray(drift_rate, dtype=float) * float(obs_length_s)
        half = 0.5 * np.abs(np.asarray(bandwidth_hz, dtype=float))
        return self.match_intervals(np.minimum(f0, f1) - half, np.maximum(f0, f1) + half)
