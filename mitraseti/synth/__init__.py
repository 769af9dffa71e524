"""Synthetic observations for tests, benchmarks and classifier training.

Flat public API (units: Hz, Hz/s, s; floats or astropy Quantities)::

    from mitraseti.synth import make_observation, NarrowbandSignal, NoiseModel
    obs = make_observation(signals=[NarrowbandSignal(channel=300, drift_rate=0.5, snr=30)],
                           noise=NoiseModel(kind="chi2", dof=16), seed=1)
    obs.header, obs.data (float32, n_spectra x nchans), obs.truth[0].frequency_hz

* signals: NarrowbandSignal, ChirpSignal, PulsedSignal, BroadbandSignal (morphologies of
  docs/signals.md) and ImpulsiveSpike, HotPixel, DCSpike (NOISE artifacts).
* random_signal(label, rng, header) draws a signal matching a docs/signals.md label;
  make_labelled_observation(label, seed) builds a training example in one call.
* make_cadence(...) builds an ABACAD ON/OFF cadence; PRESETS hold real instrument grids.
* make_observation(..., impairments=Impairments(...)) records them through a dirty receiver:
  Bandpass (PFB coarse-channel response, BANDPASS_FAMILIES), DCSpikes, BroadbandRFI
  (noise-like, raises the variance) and Quantizer (8-bit); Impairments.random(rng, header)
  draws a realistic one. obs.impairment_truth records what was done.
* S/N convention: see mitraseti.synth.observation (``snr`` is against the local noise).
"""
from .artifacts import DCSpike, HotPixel, ImpulsiveSpike
from .bandpass import BANDPASS_FAMILIES, Bandpass
from .cadence import SyntheticCadence, make_cadence
from .impairments import DCSpikes, ImpairmentRecord, Impairments, Quantizer
from .noise import NoiseModel
from .observation import (InjectedSignal, SyntheticObservation, make_header,
                          make_observation, render_signal)
from .presets import PRESETS, Preset
from .rfi import RFI_SHAPES, BroadbandRFI
from .sampling import LABEL_SAMPLERS, make_labelled_observation, random_signal
from .signals import (BroadbandSignal, ChirpSignal, NarrowbandSignal, PulsedSignal, Signal,
                      spectrum_times)

__all__ = [
    "make_observation", "make_header", "render_signal", "SyntheticObservation",
    "InjectedSignal", "NoiseModel", "Signal", "NarrowbandSignal", "ChirpSignal",
    "PulsedSignal", "BroadbandSignal", "ImpulsiveSpike", "HotPixel", "DCSpike",
    "random_signal", "make_labelled_observation", "LABEL_SAMPLERS", "make_cadence",
    "SyntheticCadence", "PRESETS", "Preset", "spectrum_times",
    "Impairments", "ImpairmentRecord", "Bandpass", "BANDPASS_FAMILIES", "DCSpikes",
    "BroadbandRFI", "RFI_SHAPES", "Quantizer",
]
