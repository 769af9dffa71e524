"""This package's own signal injector for training / evaluation examples (besides
``mitraseti.synth``), so the classifier does not learn one generator's quirks.

Smearing-aware (each spectrum integrates the signal over sub-steps of dt), with
broken-line chirps, pulsed broadband and lognormal noise that ``mitraseti.synth`` does not
draw. Labels follow docs/signals.md with a margin from every decision boundary (see
:mod:`.trainset`).
"""
from __future__ import annotations

import numpy as np

from ..io.header import ObservationHeader
from ..taxonomy import MORPHOLOGIES
from .trainset_example import HELD_OUT_NOISE, MAX_DRIFT, TRAIN_NOISE, Example


# ---------------------------------------------------------------- noise ------------
def make_noise(rng, model: str, t: int, n: int) -> np.ndarray:
    """Background in units where the noise sigma is about 1 (plus an offset)."""
    if model == "gaussian":
        x = rng.standard_normal((t, n))
    elif model == "chi2":
        k = rng.uniform(20, 80)
        x = (rng.chisquare(k, (t, n)) - k) / np.sqrt(2 * k)
    elif model == "chi2_lowdof":
        k = rng.uniform(4, 10)
        x = (rng.chisquare(k, (t, n)) - k) / np.sqrt(2 * k)
    elif model == "lognormal":
        s = rng.uniform(0.3, 0.6)
        x = rng.lognormal(0, s, (t, n))
        x = (x - np.exp(s * s / 2)) / np.sqrt((np.exp(s * s) - 1) * np.exp(s * s))
    elif model == "bandpass":
        c = np.linspace(-1, 1, n)
        shape = 1 + rng.uniform(0, 0.3) * np.cos(np.pi * c * rng.uniform(0.5, 3) + rng.uniform(0, 6))
        x = rng.standard_normal((t, n)) + 10 * (shape - 1)[None, :]
    elif model == "gain_drift":
        g = 1 + rng.normal(0, 0.05, (t, 1))
        x = (rng.standard_normal((t, n)) + 50.0) * g - 50.0
    elif model == "impulsive":
        x = rng.standard_normal((t, n))
        m = rng.random((t, n)) < 0.002
        x[m] += rng.exponential(5.0, m.sum())
    else:
        raise ValueError(f"unknown noise model {model!r}; expected one of "
                         f"{TRAIN_NOISE + HELD_OUT_NOISE}")
    return (x + 100.0).astype(np.float32)


# ---------------------------------------------------------------- injection --------
def inject(data, path_fn, width_ch, env, amp, dt_sub=8, flat=False):
    """Add a signal: centre channel ``path_fn(tau)`` (tau in spectra, fractional), FWHM
    ``width_ch`` channels, per-spectrum envelope ``env`` (T,), peak ``amp`` (sigma)."""
    t_n, n = data.shape
    cols = np.arange(n)[None, :]
    sub = (np.arange(dt_sub) + 0.5) / dt_sub
    for t in range(t_n):
        if env[t] <= 0:
            continue
        xs = path_fn(t + sub)[:, None]
        d = (cols - xs) / max(width_ch, 1e-3)
        prof = np.exp(-0.5 * (d / 0.5) ** 8) if flat else np.exp(-4 * np.log(2) * d * d)
        data[t] += (amp * env[t] * prof.mean(axis=0)).astype(np.float32)


def _line_dev(path: np.ndarray) -> float:
    t = np.arange(path.size)
    a, b = np.polyfit(t, path, 1)
    return float(np.abs(path - (a * t + b)).max())


def _runs(on: np.ndarray) -> int:
    return int(on[0]) + int((on[1:] & ~on[:-1]).sum())


def make_example(label: str, rng, setting: tuple, noise: str) -> Example:
    """One block with one signal of morphology ``label`` (see the module docstring)."""
    df, dt, t_n, n = setting
    hdr = ObservationHeader(nchans=n, fch1=8400.0 + rng.uniform(-50, 50), foff=-df / 1e6,
                            tsamp=dt, n_spectra=t_n, nfpc=n, tstart=60000.0)
    r = hdr.drift_resolution
    ch_per_hz_s = dt / df                      # channels per spectrum for 1 Hz/s
    data = make_noise(rng, noise, t_n, n)
    snr = float(np.exp(rng.uniform(np.log(12), np.log(300))))
    width = float(np.exp(rng.uniform(np.log(0.6), np.log(6))))
    if rng.random() < 0.15:
        width = float(rng.uniform(6, min(40, 150 / df)))
    env = np.ones(t_n)
    flat = False
    side = rng.choice([-1, 1])
    x0 = n / 2 + side * rng.uniform(0.12, 0.3) * n
    max_dch = min(MAX_DRIFT * ch_per_hz_s, 0.3 * n / t_n)

    def drift_ch(lo_r, hi_r):
        lo = lo_r * r * ch_per_hz_s
        hi = max(min(hi_r * r * ch_per_hz_s, max_dch), lo * 1.01)
        return float(rng.choice([-1, 1]) * np.exp(rng.uniform(np.log(lo), np.log(hi))))

    if label == "NARROWBAND_STATIONARY":
        dch = float(rng.uniform(-1, 1)) * r * ch_per_hz_s
        path_fn = lambda tau: x0 + dch * tau  # noqa: E731
        env = 1 + rng.uniform(0, 0.3) * np.sin(np.arange(t_n) * rng.uniform(0.1, 1) + rng.uniform(0, 6))
    elif label == "NARROWBAND_DRIFTING":
        dch = drift_ch(2.5, 1e9)
        path_fn = lambda tau: x0 + dch * tau  # noqa: E731
        env = 1 + rng.uniform(0, 0.3) * np.sin(np.arange(t_n) * rng.uniform(0.1, 1) + rng.uniform(0, 6))
    elif label == "CHIRP":
        dch = drift_ch(0.0001, 1e9) if rng.random() < 0.6 else 0.0
        for _ in range(50):
            need = 1.3 * max(3.0, width)
            dev = float(rng.uniform(need, max(need * 1.5, 90)))
            kind = rng.integers(3)
            if kind == 0:      # quadratic: max deviation from the best line = c / 6 * T^2
                c = rng.choice([-1, 1]) * 6 * dev / t_n ** 2
                path_fn = lambda tau, c=c, d=dch: x0 + d * tau + c * (tau - t_n / 2) ** 2
            elif kind == 1:    # stationary, then a sweep (broken line)
                k = rng.uniform(0.25, 0.75) * t_n
                s = rng.choice([-1, 1]) * dev * 4 / t_n
                path_fn = lambda tau, k=k, s=s, d=dch: x0 + d * tau + s * np.maximum(tau - k, 0)
            else:              # sinusoidal frequency modulation
                per = rng.uniform(0.6, 2.0) * t_n
                ph = rng.uniform(0, 2 * np.pi)
                path_fn = lambda tau, a=dev, p=per, ph=ph, d=dch: x0 + d * tau + a * np.sin(2 * np.pi * tau / p + ph)
            mid = path_fn(np.arange(t_n) + 0.5)
            if _line_dev(mid) >= need and np.abs(mid - x0).max() < 0.35 * n:
                break
    elif label == "PULSED":
        dch = drift_ch(0.0001, 1e9) if rng.random() < 0.6 else 0.0
        path_fn = lambda tau: x0 + dch * tau  # noqa: E731
        for _ in range(200):
            per = rng.uniform(2.5, t_n / 2)
            duty = rng.uniform(0.15, 0.6)
            ph = rng.uniform(0, per)
            fine = (np.arange(t_n * 16) / 16 + ph) % per < duty * per
            env = fine.reshape(t_n, 16).mean(axis=1)
            on = env >= 0.2 * env.max()
            if (1 - on.mean()) >= 0.3 and _runs(on) >= 2 and on.sum() >= 4:
                break
    elif label == "BROADBAND":
        width = float(rng.uniform(700, min(3000, 0.5 * n * df))) / df
        flat = rng.random() < 0.5
        dch = drift_ch(0.0001, 30) if rng.random() < 0.5 else 0.0
        path_fn = lambda tau: x0 + dch * tau  # noqa: E731
        if rng.random() < 0.4:  # pulsed broadband (radar-like) is still BROADBAND
            env = (rng.random(t_n) < 0.5).astype(float)
            env[rng.integers(t_n, size=3)] = 1.0
    elif label == "NOISE":
        dch = 0.0
        path_fn = lambda tau: x0 + 0 * tau  # noqa: E731
        env = np.zeros(t_n)
        kind = rng.integers(3)
        idx = rng.choice(t_n, size=1 if kind == 2 else int(rng.integers(1, 3)), replace=False)
        env[idx] = rng.uniform(0.5, 1.0, idx.size)
        env[idx[0]] = 1.0
        if kind == 0:
            width = float(np.exp(rng.uniform(np.log(0.6), np.log(8))))
        elif kind == 1:
            width = float(rng.uniform(700, min(3000, 0.5 * n * df))) / df
            flat = True
        else:
            width = 0.3
    else:
        raise ValueError(f"unknown label {label!r}; expected one of {MORPHOLOGIES}")
    # amplitude so the integrated S/N along the path is about `snr`
    eff_w = max(1.0, np.sqrt(width)) if label != "NOISE" else 1.0
    smear = max(1.0, abs(dch))
    amp = snr * np.sqrt(t_n) / max(env.sum(), 1.0) * smear / eff_w
    if label == "BROADBAND" or (label == "NOISE" and width > 100):
        amp = snr * np.sqrt(t_n) / max(env.sum(), 1.0) / np.sqrt(min(width, 30))
    inject(data, path_fn, width, env, amp, dt_sub=int(np.clip(np.ceil(abs(dch) * 2), 1, 16)),
           flat=flat)
    mid = path_fn(np.arange(t_n) + 0.5)
    return Example(data, hdr, label, mid, width, snr=snr)
