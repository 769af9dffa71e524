"""Random signals whose parameters span each docs/signals.md morphology (classifier training).

``random_signal(label, rng, header)`` draws parameters for ``label``, places the track inside
the band and keeps the draw only if ``signal.label_for(header) == label`` and it meets the
definition with a margin (rejection sampling), so a measurement on the data agrees:

* stationary |drift| <= 0.97 r and drifting |drift| >= 2 r: one fine channel of position
  quantisation moves a fitted drift by up to ~1.4 r, so 1 r < |drift| < 2 r is left out
  (ambiguous in the data); CHIRP departs from its line by >= 1.3 x the threshold;
* PULSED: >= 1/4 of the spectra below 15 % of the peak, >= 2 on-intervals whether on
  means > 15 % or > 25 %; narrowband draws stay < 400 Hz wide, broadband >= 600 Hz.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import numpy as np

from mitraseti.taxonomy import SignalClass

from .artifacts import DCSpike, HotPixel, ImpulsiveSpike
from .signals import (BROADBAND_MIN_HZ, BroadbandSignal, ChirpSignal, NarrowbandSignal,
                      PulsedSignal, Signal, count_intervals, spectrum_times)

NARROW_MAX_HZ = 400.0  # narrowband draws stay well under the 500 Hz broadband line
BROAD_MIN_HZ = 1.2 * BROADBAND_MIN_HZ  # broadband draws stay well over it
MAX_TRIES = 200
STATIONARY_MAX_R = 0.97  # |drift| / r upper bound for NARROWBAND_STATIONARY draws
DRIFTING_MIN_R = 2.0  # |drift| / r lower bound for NARROWBAND_DRIFTING draws
CHIRP_MARGIN = 1.3


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _narrow_shape(rng, header) -> dict[str, Any]:
    profile = str(rng.choice(["gaussian", "sinc2", "box"]))
    return {"width": _log_uniform(rng, 0.05 * header.df_hz, 3.0 * header.df_hz), "profile": profile}


def _span_s(header) -> float:
    return max(header.n_spectra - 1, 1) * header.dt_s


def _narrow_max_drift(header, max_drift: float) -> float:
    """Largest |drift| that stays narrow and keeps the track in 80 % of the band."""
    band = header.nchans * header.df_hz
    return min(max_drift, 0.8 * band / _span_s(header), NARROW_MAX_HZ / header.dt_s)


def _stationary(rng, header, snr, max_drift) -> Signal:
    r = header.drift_resolution
    drift = rng.uniform(-1.0, 1.0) * STATIONARY_MAX_R * r
    return NarrowbandSignal(channel=0.0, drift_rate=drift, snr=snr, **_narrow_shape(rng, header))


def _drifting(rng, header, snr, max_drift) -> Signal:
    lo = DRIFTING_MIN_R * header.drift_resolution
    hi = _narrow_max_drift(header, max_drift)
    if hi <= lo:
        raise ValueError(f"NARROWBAND_DRIFTING: no drift fits this grid: need {lo:.4g} < |drift| "
                         f"<= {hi:.4g} Hz/s (raise max_drift or n_chans)")
    drift = _log_uniform(rng, lo, hi) * rng.choice([-1.0, 1.0])
    return NarrowbandSignal(channel=0.0, drift_rate=drift, snr=snr, **_narrow_shape(rng, header))


def _chirp(rng, header, snr, max_drift) -> Signal:
    span = _span_s(header)
    shape = _narrow_shape(rng, header)
    threshold = max(3.0 * header.df_hz, shape["width"])
    deviation = threshold * rng.uniform(1.5, 6.0)
    drift = rng.uniform(-0.5, 0.5) * _narrow_max_drift(header, max_drift)
    if rng.random() < 0.5:  # quadratic: a line fit leaves accel * span**2 / 12 at the ends
        accel = 12.0 * deviation / span ** 2 * rng.choice([-1.0, 1.0])
        return ChirpSignal(channel=0.0, drift_rate=drift, accel=accel, snr=snr, **shape)
    return ChirpSignal(channel=0.0, drift_rate=drift, sweep_amplitude=deviation * rng.uniform(1.0, 2.0),
                       sweep_period=span * rng.uniform(0.5, 1.5),
                       sweep_phase=rng.uniform(0, 2 * np.pi), snr=snr, **shape)


def _pulsed(rng, header, snr, max_drift) -> Signal:
    n = header.n_spectra
    if n < 10:
        raise ValueError(f"PULSED: needs n_spectra >= 10 for two pulses and off spectra, got {n}")
    period = rng.uniform(4.0, n / 2.5) * header.dt_s
    drift = 0.0
    if rng.random() < 0.5:
        drift = rng.uniform(-1.0, 1.0) * _narrow_max_drift(header, max_drift)
    return PulsedSignal(channel=0.0, drift_rate=drift, period=period,
                        duty_cycle=rng.uniform(0.15, 0.4), phase=rng.uniform(0, period),
                        snr=snr, **_narrow_shape(rng, header))


def _broadband(rng, header, snr, max_drift) -> Signal:
    band = header.nchans * header.df_hz
    if band < 2 * BROAD_MIN_HZ:
        raise ValueError(f"BROADBAND: needs a band of at least {2 * BROAD_MIN_HZ:.0f} Hz "
                         f"(n_chans * df), got {band:.0f} Hz")
    if rng.random() < 0.5:  # wide band-limited emission
        width = rng.uniform(BROAD_MIN_HZ, min(0.5 * band, 5000.0))
        drift = rng.uniform(-1.0, 1.0) * min(max_drift, 0.2 * band / _span_s(header))
        return BroadbandSignal(channel=0.0, drift_rate=drift, width=width,
                               profile=str(rng.choice(["box", "gaussian"])), snr=snr)
    # fast sweep (dispersed-like): smear per spectrum |drift| * dt >= 600 Hz
    smear = rng.uniform(BROAD_MIN_HZ, min(0.5 * band, 2.5 * BROAD_MIN_HZ))
    drift = smear / header.dt_s * rng.choice([-1.0, 1.0])
    return BroadbandSignal(channel=0.0, drift_rate=drift, width=rng.uniform(0, 3 * header.df_hz),
                           profile="gaussian", snr=snr)


def _noise(rng, header, snr, max_drift) -> Signal:
    choice = rng.integers(3)
    if choice == 0:
        i = int(rng.integers(header.n_spectra))
        spectra = (i,) if rng.random() < 0.5 or i + 1 >= header.n_spectra else (i, i + 1)
        width = 0.0 if rng.random() < 0.5 else rng.uniform(header.df_hz, 300 * header.df_hz)
        return ImpulsiveSpike(channel=0.0, spectra=spectra, width=width, profile="box", snr=snr)
    if choice == 1:
        return HotPixel(channel=0.0, spectrum=int(rng.integers(header.n_spectra)), snr=snr)
    nfpc = header.nfpc or header.nchans
    return DCSpike(coarse_channel=int(rng.integers(header.nchans // nfpc)), snr=snr)


LABEL_SAMPLERS: dict[str, Callable[..., Signal]] = {
    SignalClass.NARROWBAND_STATIONARY.value: _stationary,
    SignalClass.NARROWBAND_DRIFTING.value: _drifting,
    SignalClass.CHIRP.value: _chirp,
    SignalClass.PULSED.value: _pulsed,
    SignalClass.BROADBAND.value: _broadband,
    SignalClass.NOISE.value: _noise,
}


def _place(signal: Signal, rng, header) -> Signal | None:
    """Put the track at a random start channel; None when it cannot stay in the band."""
    if isinstance(signal, DCSpike):
        return signal
    t = spectrum_times(header)
    offsets = signal.offset_hz(t) / (header.foff * 1e6)  # channels, file direction
    smear = np.abs(signal.rate(t)) * header.dt_s / header.df_hz
    sweep = isinstance(signal, BroadbandSignal) and signal.width < BROADBAND_MIN_HZ
    if sweep:  # a fast sweep crosses the band: only its first two spectra must be inside
        offsets, smear = offsets[:2], smear[:2]
    margin = 0.5 * signal.width / header.df_hz + 0.5 * float(np.max(smear)) + 2.0
    lo = margin - float(np.min(offsets))
    hi = header.nchans - 1 - margin - float(np.max(offsets))
    if hi < lo:
        return None
    channel = float(rng.uniform(lo, hi))
    if isinstance(signal, HotPixel):
        channel = float(np.clip(round(channel), 0, header.nchans - 1))
    return replace(signal, channel=channel)


def _has_margin(signal: Signal, header, label: str) -> bool:
    """True when ``signal`` meets ``label``'s definition with the margins of the docstring."""
    bw = signal.occupied_bandwidth_hz(header)
    if label == SignalClass.CHIRP.value:
        return signal.path_deviation_hz(header) >= CHIRP_MARGIN * max(3 * header.df_hz, bw)
    if label == SignalClass.PULSED.value:
        env = signal.envelope(spectrum_times(header), header.dt_s)
        env = env / env.max()
        return bool(np.mean(env < 0.15) >= 0.25 and count_intervals(env > 0.15) >= 2
                    and count_intervals(env > 0.25) >= 2)
    if label == SignalClass.BROADBAND.value:
        return bw >= BROAD_MIN_HZ
    if label == SignalClass.NOISE.value:
        return True
    return bw <= NARROW_MAX_HZ


def random_signal(label: str, rng: np.random.Generator, header, snr_range=(10.0, 50.0),
                  max_drift: float = 4.0) -> Signal:
    """Draw a signal whose morphology on ``header``'s grid is ``label`` (docs/signals.md).

    label: one of NOISE, BROADBAND, PULSED, CHIRP, NARROWBAND_STATIONARY,
    NARROWBAND_DRIFTING. snr_range: (low, high) target S/N, drawn log-uniform.
    max_drift: largest |drift| (Hz/s) for narrowband kinds. Raises ValueError when the
    grid cannot hold the label (e.g. a band narrower than a broadband signal).
    """
    label = getattr(label, "value", label)
    if label not in LABEL_SAMPLERS:
        raise ValueError(f"label: expected one of {sorted(LABEL_SAMPLERS)}, got {label!r}")
    lo, hi = float(snr_range[0]), float(snr_range[1])
    if not 0 < lo <= hi:
        raise ValueError(f"snr_range: expected 0 < low <= high, got {snr_range}")
    for _ in range(MAX_TRIES):
        snr = _log_uniform(rng, lo, hi) if hi > lo else lo
        signal = _place(LABEL_SAMPLERS[label](rng, header, snr, max_drift), rng, header)
        if (signal is not None and signal.label_for(header) == label
                and _has_margin(signal, header, label)):
            return signal
    raise ValueError(f"random_signal: could not draw a {label} signal that fits {header.nchans} "
                     f"channels x {header.n_spectra} spectra (df {header.df_hz:.4g} Hz, "
                     f"dt {header.dt_s:.4g} s) in {MAX_TRIES} tries")


def make_labelled_observation(label: str, seed: int = 0, noise=None, snr_range=(10.0, 50.0),
                              max_drift: float = 4.0, preset: str | None = "voyager",
                              **overrides: Any):
    """One observation holding one random signal of ``label``: a training example.

    preset: a key of PRESETS (or None for make_observation's defaults); overrides: any
    make_observation argument (n_chans=256, n_spectra=32, ...); ``impairments="random"``
    draws a dirty receiver with :meth:`Impairments.random`. Deterministic in ``seed``.
    """
    from .observation import make_header, make_observation
    from .presets import PRESETS

    kwargs = PRESETS[preset].kwargs(**overrides) if preset else dict(overrides)
    impairments = kwargs.pop("impairments", None)
    rng = np.random.default_rng(seed)
    header = make_header(**kwargs)
    signal = random_signal(label, rng, header, snr_range, max_drift)
    if isinstance(impairments, str):
        if impairments != "random":
            raise ValueError(f"impairments: expected an Impairments, None or 'random', got {impairments!r}")
        from .impairments import Impairments
        impairments = Impairments.random(rng, header)
    obs = make_observation(noise=noise, signals=[signal], seed=rng, impairments=impairments, **kwargs)
    obs.seed = seed
    return obs
