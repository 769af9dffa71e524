"""Injectable signals: one small dataclass per morphology of docs/signals.md.

Conventions (all signals):

* Time ``t`` is in seconds from the reference epoch: the centre of the first spectrum of
  the observation (or of the first file of a cadence). Spectrum ``i`` of a file starting
  ``time_offset_s`` after the epoch is centred at ``t_i = time_offset_s + i * dt`` and
  integrates ``[t_i - dt/2, t_i + dt/2]``. So ``frequency_hz`` at t = 0 is the frequency in
  the first spectrum, as turboSETI reports it.
* Frequency: give either ``frequency`` (absolute, Hz, at t = 0) or ``channel`` (fractional
  fine-channel index in the file at t = 0, resolved against the header).
* ``drift_rate`` in Hz/s, positive = frequency rises with time, whatever the sign of foff.
* ``width`` in Hz: FWHM for "gaussian" / "sinc2", full width for "box", 0 = delta.
* Amplitude: ``snr`` = target integrated S/N (see :mod:`mitraseti.synth.observation` for
  the exact convention) or ``level`` = absolute power per spectrum, summed over channels,
  in data units (``level`` wins when both are given).

Every parameter may be a float or an astropy Quantity; it is normalised once in
``__post_init__``. ``label_for(header)`` applies the docs/signals.md rules to the signal's own
parameters on that header's time/frequency grid.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from mitraseti.taxonomy import SignalClass

from ._units import to_float, to_optional_float
from .profiles import PROFILES

BROADBAND_MIN_HZ = 500.0  # docs/signals.md rule 5
PULSE_OFF_FRACTION = 0.2  # "below 20 % of its peak power"
PULSE_MIN_OFF_SPECTRA = 0.25  # "in at least a quarter of the spectra"
STATIONARY_DRIFT_FACTOR = 1.5  # |drift| <= 1.5 r


def spectrum_times(header, time_offset_s: float = 0.0) -> np.ndarray:
    """Centre time (s from the epoch) of every spectrum of ``header``."""
    return time_offset_s + np.arange(header.n_spectra) * header.dt_s


def count_intervals(mask: np.ndarray) -> int:
    """Number of separate runs of True in a 1-D boolean array."""
    m = np.asarray(mask, dtype=bool).astype(np.int8)
    return int(np.sum(np.diff(np.concatenate([[0], m])) == 1))


@dataclass
class Signal:
    """A continuous narrowband tone with a linear drift (base of every signal kind)."""

    frequency: Any = None
    channel: float | None = None
    drift_rate: Any = 0.0
    width: Any = 1.0
    profile: str = "gaussian"
    snr: float | None = 25.0
    level: float | None = None

    kind: ClassVar[str] = "tone"
    needs_position: ClassVar[bool] = True  # False when the header fixes the frequency

    def __post_init__(self) -> None:
        self.frequency = to_optional_float(self.frequency, "Hz", "frequency")
        self.channel = None if self.channel is None else float(self.channel)
        self.drift_rate = to_float(self.drift_rate, "Hz/s", "drift_rate")
        self.width = to_float(self.width, "Hz", "width")
        if self.width < 0:
            raise ValueError(f"width: expected >= 0 Hz, got {self.width}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile: expected one of {PROFILES}, got {self.profile!r}")
        if self.needs_position and self.frequency is None and self.channel is None:
            raise ValueError(f"{type(self).__name__}: give frequency (Hz) or channel")
        if self.snr is None and self.level is None:
            raise ValueError(f"{type(self).__name__}: give snr or level")
        if self.level is not None:
            self.level = float(self.level)
        if self.snr is not None:
            self.snr = float(self.snr)

    # ---- physics: path and envelope ------------------------------------------------
    def start_frequency_hz(self, header) -> float:
        """Absolute frequency (Hz) at the epoch t = 0."""
        if self.frequency is not None:
            return float(self.frequency)
        return header.channel_frequency_hz(self.channel)

    def offset_hz(self, t: np.ndarray) -> np.ndarray:
        """Frequency minus the t = 0 frequency, Hz, at times ``t`` (s)."""
        return self.drift_rate * np.asarray(t, dtype=float)

    def rate(self, t: np.ndarray) -> np.ndarray:
        """Instantaneous drift rate, Hz/s, at times ``t`` (s)."""
        return np.full(np.shape(t), self.drift_rate, dtype=float)

    def envelope(self, t: np.ndarray, dt: float) -> np.ndarray:
        """Mean relative amplitude (0..1) over each spectrum ``[t - dt/2, t + dt/2]``."""
        return np.ones(np.shape(t), dtype=float)

    def extra_params(self) -> dict[str, Any]:
        """Kind-specific parameters recorded in the truth (SI units)."""
        return {}

    # ---- docs/signals.md rules on the signal's own parameters ------------------------------
    def occupied_bandwidth_hz(self, header, time_offset_s: float = 0.0) -> float:
        """Occupied width at any one time, Hz: max(width, largest per-spectrum smear)."""
        t = spectrum_times(header, time_offset_s)
        smear = np.abs(self.rate(t)) * header.dt_s
        return float(max(self.width, np.max(smear)))

    def path_deviation_hz(self, header, time_offset_s: float = 0.0) -> float:
        """Largest departure (Hz) of the path from its least-squares straight line."""
        t = spectrum_times(header, time_offset_s)
        f = self.offset_hz(t)
        if len(t) < 3:
            return 0.0
        coeff = np.polyfit(t - t[0], f, 1)
        return float(np.max(np.abs(f - np.polyval(coeff, t - t[0]))))

    def fitted_drift_hz_s(self, header, time_offset_s: float = 0.0) -> float:
        """Slope of the least-squares line through the path, Hz/s."""
        t = spectrum_times(header, time_offset_s)
        if len(t) < 2:
            return float(self.drift_rate)
        return float(np.polyfit(t - t[0], self.offset_hz(t), 1)[0])

    def is_pulsed(self, header, time_offset_s: float = 0.0) -> bool:
        """docs/signals.md rule 6 on the envelope: >= 1/4 spectra below 20 % of peak, >= 2 on runs."""
        env = self.envelope(spectrum_times(header, time_offset_s), header.dt_s)
        peak = float(np.max(env)) if len(env) else 0.0
        if peak <= 0:
            return False
        off = env < PULSE_OFF_FRACTION * peak
        return bool(off.mean() >= PULSE_MIN_OFF_SPECTRA and count_intervals(~off) >= 2)

    def label_for(self, header, time_offset_s: float = 0.0) -> str:
        """The docs/signals.md morphology label this signal has on ``header``'s grid."""
        bw = self.occupied_bandwidth_hz(header, time_offset_s)
        if bw >= BROADBAND_MIN_HZ:
            return SignalClass.BROADBAND.value
        if self.is_pulsed(header, time_offset_s):
            return SignalClass.PULSED.value
        if self.path_deviation_hz(header, time_offset_s) > max(3 * header.df_hz, bw):
            return SignalClass.CHIRP.value
        drift = self.fitted_drift_hz_s(header, time_offset_s)
        if abs(drift) <= STATIONARY_DRIFT_FACTOR * header.drift_resolution:
            return SignalClass.NARROWBAND_STATIONARY.value
        return SignalClass.NARROWBAND_DRIFTING.value

    def describe(self) -> dict[str, Any]:
        """All dataclass fields as a plain dict (for logs and truth records)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class NarrowbandSignal(Signal):
    """Narrowband continuous tone: NARROWBAND_DRIFTING when |drift| > 1.5 r, else
    NARROWBAND_STATIONARY (see ``label_for``)."""

    kind: ClassVar[str] = "narrowband"


@dataclass
class ChirpSignal(Signal):
    """Curved drift: f(t) = f0 + drift t + accel t^2 / 2 + A (sin(2 pi t / P + phi) - sin phi).

    accel: Hz/s^2. sweep_amplitude: A, Hz. sweep_period: P, s. sweep_phase: phi, rad.
    CHIRP when the path leaves its best straight line by more than max(3 channels,
    bandwidth) within the observation.
    """

    accel: Any = 0.0
    sweep_amplitude: Any = 0.0
    sweep_period: Any = 100.0
    sweep_phase: float = 0.0

    kind: ClassVar[str] = "chirp"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.accel = to_float(self.accel, "Hz/s2", "accel")
        self.sweep_amplitude = to_float(self.sweep_amplitude, "Hz", "sweep_amplitude")
        self.sweep_period = to_float(self.sweep_period, "s", "sweep_period")
        if self.sweep_period <= 0:
            raise ValueError(f"sweep_period: expected > 0 s, got {self.sweep_period}")
        self.sweep_phase = float(self.sweep_phase)

    def offset_hz(self, t):
        t = np.asarray(t, dtype=float)
        w = 2 * np.pi / self.sweep_period
        sweep = self.sweep_amplitude * (np.sin(w * t + self.sweep_phase) - np.sin(self.sweep_phase))
        return self.drift_rate * t + 0.5 * self.accel * t * t + sweep

    def rate(self, t):
        t = np.asarray(t, dtype=float)
        w = 2 * np.pi / self.sweep_period
        return self.drift_rate + self.accel * t + self.sweep_amplitude * w * np.cos(w * t + self.sweep_phase)

    def extra_params(self):
        return {"accel": self.accel, "sweep_amplitude": self.sweep_amplitude,
                "sweep_period": self.sweep_period, "sweep_phase": self.sweep_phase}


@dataclass
class PulsedSignal(Signal):
    """A tone switched on and off: on for ``duty_cycle * period`` of every ``period`` (s),
    starting at t = ``phase`` (s). Each spectrum carries the fraction of its integration
    time that the tone was on. May also drift (``drift_rate``)."""

    period: Any = 60.0
    duty_cycle: float = 0.3
    phase: Any = 0.0

    kind: ClassVar[str] = "pulsed"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.period = to_float(self.period, "s", "period")
        self.phase = to_float(self.phase, "s", "phase")
        self.duty_cycle = float(self.duty_cycle)
        if self.period <= 0:
            raise ValueError(f"period: expected > 0 s, got {self.period}")
        if not 0 < self.duty_cycle <= 1:
            raise ValueError(f"duty_cycle: expected in (0, 1], got {self.duty_cycle}")

    def _on_time(self, t: np.ndarray) -> np.ndarray:
        """Total on-time between the phase origin and ``t`` (s), continuous in t."""
        u = (np.asarray(t, dtype=float) - self.phase) / self.period
        whole = np.floor(u)
        return self.period * (whole * self.duty_cycle + np.minimum(u - whole, self.duty_cycle))

    def envelope(self, t, dt):
        t = np.asarray(t, dtype=float)
        if dt <= 0:
            return np.ones_like(t)
        return np.clip((self._on_time(t + 0.5 * dt) - self._on_time(t - 0.5 * dt)) / dt, 0.0, 1.0)

    def extra_params(self):
        return {"period": self.period, "duty_cycle": self.duty_cycle, "phase": self.phase}


@dataclass
class BroadbandSignal(Signal):
    """Emission at least 500 Hz wide at any one time: a wide band-limited signal (``width``
    >= 500 Hz, box profile by default) or a fast sweep whose Doppler smear per spectrum
    |drift| * dt reaches 500 Hz (a dispersed sweep at fine resolution)."""

    width: Any = 1000.0
    profile: str = "box"

    kind: ClassVar[str] = "broadband"


__all__ = [
    "Signal", "NarrowbandSignal", "ChirpSignal", "PulsedSignal", "BroadbandSignal",
    "BROADBAND_MIN_HZ", "spectrum_times", "count_intervals",
]
