"""Training / evaluation examples seen through a dirty receiver, as real coarse channels are.

One ``mitraseti.synth`` signal (rule-checked label) is observed through a random receiver:

* a bandpass of one of ``BANDPASS_FAMILIES`` (jittered): either the block is a whole
  coarse channel (its roll-off edges inside the block), or it is a window of a coarse
  channel 4 to 64 times wider (the gain varies slowly across it, or an edge crosses it);
* a DC spike (90 %, whole-coarse-channel blocks only, where the coarse channel has one);
* 0 to ``RFI_MAX`` noise-like broadband interferers (0.5 to 50 kHz wide, continuous,
  intermittent, drifting or varying) BESIDE the signal: every interferer's 1 % extent over
  the whole observation stays ``RFI_GAP_CH`` channels away from the signal's, so it never
  changes the signal's label (interference is context, the label is the signal's own),
  and covers at most ``RFI_MAX_COVER`` of the block;
* 8-bit requantisation (``QUANTIZE_P``).

The classifier sees the raw block (the pipeline classifies the unflattened data), so
these examples teach it bandpass slopes, spikes and interference next to a signal.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..synth.bandpass import Bandpass
from ..synth.impairments import DCSpikes, Impairments, Quantizer
from ..synth.rfi import BroadbandRFI, profile_extent_hz
from ..synth.signals import spectrum_times

RFI_MAX = 3
RFI_P = 0.75                 # probability of any interferer
RFI_GAP_CH = (2.0, 200.0)    # channels between the signal's and an interferer's extents
RFI_WIDTH_HZ = (500.0, 5.0e4)
RFI_MAX_COVER = 0.4          # largest fraction of the block an interferer may cover
RFI_MIN_COVER_CH = 8         # an interferer must reach this many channels into the block
QUANTIZE_P = 0.4
WINDOW_P = 0.5               # the block is a window of a wider coarse channel
DC_P = 0.9


def path_extent(signal, header) -> tuple[float, float]:
    """(low, high) channels the signal occupies over the observation (centre track +-
    half its occupied bandwidth)."""
    t = spectrum_times(header)
    freqs = signal.start_frequency_hz(header) + signal.offset_hz(t)
    centres = (freqs / 1e6 - header.fch1) / header.foff
    half = 0.5 * signal.occupied_bandwidth_hz(header) / header.df_hz + 0.5
    return float(centres.min() - half), float(centres.max() + half)


def _rfi_extent_ch(rfi: BroadbandRFI, header) -> tuple[float, float]:
    """(low, high) channel offsets of the interferer's 1 % extent over the observation,
    relative to its channel at t = 0."""
    lo_hz, hi_hz = profile_extent_hz(rfi.shape, rfi.width_hz, rfi.skew)
    move = rfi.drift_rate * max(header.obs_length_s, header.dt_s)
    a = (min(0.0, move) + lo_hz) / (header.foff * 1e6)
    b = (max(0.0, move) + hi_hz) / (header.foff * 1e6)
    return min(a, b), max(a, b)


def rfi_beside(rng, header, sig_lo: float, sig_hi: float, taken: list) -> BroadbandRFI | None:
    """A random interferer placed beside the channels ``sig_lo..sig_hi`` (and clear of the
    ``taken`` channel ranges), or None when it does not fit."""
    n = header.nchans
    for _ in range(8):
        # shape, amplitude and time behaviour as BroadbandRFI.random draws them, then a
        # width of our range (a drift keeps moving the same share of the width)
        template = BroadbandRFI.random(rng, header, width_range_hz=(header.df_hz,) * 2)
        width = float(np.exp(rng.uniform(*np.log(RFI_WIDTH_HZ))))
        rfi = replace(template, width_hz=width,
                      drift_rate=template.drift_rate * width / template.width_hz)
        lo, hi = _rfi_extent_ch(rfi, header)
        gap = float(np.exp(rng.uniform(*np.log(RFI_GAP_CH))))
        centre = sig_hi + gap - lo if rng.random() < 0.5 else sig_lo - gap - hi
        a, b = centre + lo, centre + hi
        inside = min(b, n - 1) - max(a, 0)
        clear = all(b < t_lo - 1 or a > t_hi + 1 for t_lo, t_hi in taken)
        if RFI_MIN_COVER_CH <= inside <= RFI_MAX_COVER * n and clear:
            taken.append((a, b))
            rfi.channel = float(centre)
            return rfi
    return None


def window_gain(bandpass: Bandpass, n: int, rng) -> np.ndarray:
    """Gain over a window of ``n`` channels of a coarse channel 4..64 times wider."""
    wide = n * int(2 ** rng.integers(2, 7))
    start = int(rng.integers(0, wide - n + 1))
    gain = bandpass.coarse_response(wide)[start:start + n]
    return gain * (1.0 + bandpass.slope * np.linspace(-1, 1, n) * n / wide)


def make_dirty_observation(signal, header_kw: dict, noise, rng):
    """``make_observation`` of ``signal`` through a random dirty receiver (module doc).
    Returns (observation, interferer channel ranges)."""
    from ..synth import make_observation
    from ..synth.observation import make_header
    header = make_header(**header_kw)
    bandpass = Bandpass.random(rng)
    windowed = rng.random() < WINDOW_P
    dc = DCSpikes.random(rng) if (not windowed and rng.random() < DC_P) else None
    sig_lo, sig_hi = path_extent(signal, header)
    taken: list = []
    n_rfi = int(rng.integers(1, RFI_MAX + 1)) if rng.random() < RFI_P else 0
    rfis = [r for r in (rfi_beside(rng, header, sig_lo, sig_hi, taken) for _ in range(n_rfi))
            if r is not None]
    quantize = None
    if rng.random() < QUANTIZE_P:
        quantize = Quantizer(target_mean=float(np.exp(rng.uniform(np.log(16), np.log(96)))))
    receiver = Impairments(bandpass=None if windowed else bandpass, dc_spikes=dc,
                           broadband=rfis, quantize=None if windowed else quantize)
    obs = make_observation(noise=noise, signals=[signal], seed=rng, impairments=receiver,
                           **header_kw)
    if windowed:  # the gain of a window of a wider coarse channel, then quantisation
        obs.data *= window_gain(bandpass, header.nchans, rng).astype(np.float32)[None, :]
        if quantize is not None:
            quantize.apply(obs.data)
    return obs, [(min(a, b), max(a, b)) for a, b in taken]
