"""ON/OFF cadences (ABACAD) with signals present in chosen files.

Files are ``obs_length + gap_s`` apart; a signal's frequency in a later file follows its
own path (drift, curvature, pulse phase) over the elapsed time, as a real transmitter's
would. File k starts ``k * (obs_length + gap_s)`` seconds after the epoch of the signals.
A signal that has drifted out of the band by file k is recorded there with snr 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .observation import SyntheticObservation, make_header, make_observation
from .signals import Signal

PRESENCE = ("on", "off", "all", "first_on")


@dataclass
class SyntheticCadence:
    """Six (or ``n_files``) observations; ``on_indices`` are the ON-source files."""

    observations: list[SyntheticObservation]
    on_indices: tuple[int, ...]
    file_offsets_s: list[float]

    @property
    def off_indices(self) -> tuple[int, ...]:
        return tuple(i for i in range(len(self.observations)) if i not in self.on_indices)

    def write(self, directory: str | Path, stem: str = "cadence", suffix: str = ".fil") -> list[Path]:
        """Write every file as ``{stem}_{k}_{ON|OFF}{suffix}``; returns the paths in order."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for k, obs in enumerate(self.observations):
            tag = "ON" if k in self.on_indices else "OFF"
            paths.append(obs.write(directory / f"{stem}_{k}_{tag}{suffix}"))
        return paths


def _files_for(presence: Any, n_files: int, on: tuple[int, ...]) -> set[int]:
    if isinstance(presence, str):
        if presence == "on":
            return set(on)
        if presence == "off":
            return set(range(n_files)) - set(on)
        if presence == "all":
            return set(range(n_files))
        if presence == "first_on":
            return {on[0]}
        raise ValueError(f"presence: expected one of {PRESENCE} or file indices, got {presence!r}")
    files = {int(k) for k in presence}
    if any(not 0 <= k < n_files for k in files):
        raise ValueError(f"presence: file indices must be in 0..{n_files - 1}, got {sorted(files)}")
    return files


def make_cadence(signals: Sequence[Signal] = (), presence: Iterable[Any] | None = None,
                 n_files: int = 6, gap_s: float = 30.0, seed: int = 0,
                 source_name: str = "SYNTHETIC", off_names: Sequence[str] | None = None,
                 tstart: float = 60000.0, **obs_kwargs: Any) -> SyntheticCadence:
    """Build an ABACAD cadence: files 0, 2, 4 are ON ``source_name``, 1, 3, 5 OFF targets.

    signals: the signals, positioned at the epoch (first spectrum of file 0).
    presence: one entry per signal: "on" (default), "off", "all", "first_on", or an
      iterable of file indices. gap_s: slew gap between files (s). seed: one seed for the
      whole cadence (each file gets its own child stream). obs_kwargs: make_observation
      arguments shared by every file (n_chans, df_hz, dt_s, fch1_mhz, noise, impairments,
      ...); with ``impairments`` every file has the same receiver and interferers (their
      on/off patterns are drawn per file).
    """
    presence = ["on"] * len(signals) if presence is None else list(presence)
    if len(presence) != len(signals):
        raise ValueError(f"presence: expected {len(signals)} entries (one per signal), got {len(presence)}")
    on = tuple(range(0, n_files, 2))
    grid = make_header(**{k: v for k, v in obs_kwargs.items() if k not in ("noise", "impairments")})
    step = grid.obs_length_s + float(gap_s)
    child_seeds = np.random.SeedSequence(seed).spawn(n_files)
    files = [_files_for(p, n_files, on) for p in presence]
    observations, offsets = [], []
    for k in range(n_files):
        name = source_name if k in on else (off_names[k // 2] if off_names else f"{source_name}_OFF{k // 2 + 1}")
        present = [(i, s) for i, s in enumerate(signals) if k in files[i]]
        obs = make_observation(signals=[s for _, s in present], seed=np.random.default_rng(child_seeds[k]),
                               source_name=name, tstart=tstart + k * step / 86400.0,
                               time_offset_s=k * step, allow_outside=True, **obs_kwargs)
        for (i, _), record in zip(present, obs.truth):
            record.index = i
        obs.seed = seed
        observations.append(obs)
        offsets.append(k * step)
    return SyntheticCadence(observations, on, offsets)
