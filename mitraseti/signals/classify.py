"""Classify filtered hits: morphology (model + docs/signals.md rules), RFI context, score.

Order of decisions for each hit (docs/signals.md precedence):
1. morphology from the calibrated classifier (argmax probability);
   NOISE by rule (confidence 1) when the hit sits on the coarse channel's DC bin or within
   ``EDGE_GUARD`` channels of its edge without drifting (only when ``data`` is a whole
   coarse channel, i.e. ``data.shape[1] == header.nfpc``);
   between the two narrowband morphologies the drift rule decides (|drift| <= 1.5 r is
   STATIONARY), carrying their summed probability;
2. a non-NOISE hit whose path lies in a known RFI band becomes RFI_SATELLITE /
   RFI_TERRESTRIAL with ``rfi_source`` = the band name;
3. CANDIDATE_ET is never given here (only :func:`mitraseti.signals.cadence.run_cadence`).
"""
from __future__ import annotations

import numpy as np

from ..search.broadband import BROADBAND_HZ
from ..search.hit import MATCHED_FILTER
from .features import FEATURE_NAMES, segment_features
from .interest import interestingness_arrays
from .model import load_default, predict_proba
from .rfi import RfiBands
from ..taxonomy import MORPHOLOGIES, SignalClass

EDGE_GUARD = 2          # channels at each coarse-channel edge treated as artifacts
STATIONARY_FACTOR = 1.5  # |drift| <= 1.5 r is stationary (docs/signals.md)
_I_NOISE = MORPHOLOGIES.index(SignalClass.NOISE.value)
_I_STAT = MORPHOLOGIES.index(SignalClass.NARROWBAND_STATIONARY.value)
_I_DRIFT = MORPHOLOGIES.index(SignalClass.NARROWBAND_DRIFTING.value)
_I_BROAD = MORPHOLOGIES.index(SignalClass.BROADBAND.value)
_BANDS: dict = {}


def default_bands() -> RfiBands:
    """Shipped + user RFI bands, loaded once per process."""
    if "bands" not in _BANDS:
        _BANDS["bands"] = RfiBands.load()
    return _BANDS["bands"]


def morphology(probs: np.ndarray, drift_r: np.ndarray, artifact: np.ndarray,
               measured_broadband: np.ndarray | None = None,
               measured_narrow: np.ndarray | None = None):
    """Final morphology index, adjusted probabilities and confidence for each hit.

    The occupied width the search measured on baseline-removed data decides BROADBAND
    (>= 500 Hz, SIGNALS' definition) where it is known: ``measured_broadband`` hits (the
    baseline's broadband features) are BROADBAND with confidence 1; ``measured_narrow``
    hits (narrower than 500 Hz once the baseline is gone, e.g. a tone on top of a
    broadband interferer, which the model sees in the raw data around it) cannot be, so
    their BROADBAND probability goes to the other morphologies."""
    probs = probs.copy()
    if measured_narrow is not None and measured_narrow.any():
        rest = 1.0 - probs[measured_narrow, _I_BROAD]
        probs[measured_narrow, _I_BROAD] = 0.0
        probs[measured_narrow] /= np.maximum(rest, 1e-12)[:, None]
    if measured_broadband is not None and measured_broadband.any():
        probs[measured_broadband] = 0.0
        probs[measured_broadband, _I_BROAD] = 1.0
    idx = probs.argmax(axis=1)
    narrow = (idx == _I_STAT) | (idx == _I_DRIFT)
    p_nb = probs[:, _I_STAT] + probs[:, _I_DRIFT]
    stat = np.abs(drift_r) <= STATIONARY_FACTOR
    idx = np.where(narrow, np.where(stat, _I_STAT, _I_DRIFT), idx)
    probs[narrow, _I_STAT] = np.where(stat[narrow], p_nb[narrow], 0.0)
    probs[narrow, _I_DRIFT] = np.where(stat[narrow], 0.0, p_nb[narrow])
    idx = np.where(artifact, _I_NOISE, idx)
    conf = np.where(artifact, 1.0, probs[np.arange(len(idx)), idx])
    if measured_broadband is not None:
        idx = np.where(measured_broadband & ~artifact, _I_BROAD, idx)
    return idx, probs, conf


def classify_hits(hits, data, header, channel_offset: int = 0, model=None,
                  rfi_bands: RfiBands | None = None, coarse_channel_offset: int | None = None):
    """Fill ``classification``, ``confidence``, ``probabilities``, ``features``,
    ``rfi_source`` and ``interestingness`` of every hit in place; returns ``hits``.

    data: (n_spectra, n_channels) block the hits were found in; channel_offset: file channel
    of ``data[:, 0]`` (``coarse_channel_offset`` is an accepted alias); model: a loaded
    classifier (default: the shipped one); rfi_bands: band table (default: shipped + user).
    """
    if coarse_channel_offset is not None:
        channel_offset = coarse_channel_offset
    hits = list(hits)
    if not hits:
        return hits
    model = model if model is not None else load_default()
    bands = rfi_bands if rfi_bands is not None else default_bands()
    ch = np.array([h.channel_index for h in hits], dtype=float)
    drift = np.array([h.drift_rate for h in hits], dtype=float)
    snr = np.array([h.snr for h in hits], dtype=float)
    starts = [h.spectrum_start for h in hits]
    counts = [h.spectrum_count for h in hits]
    x = segment_features(data, header, ch, drift, snr, starts, counts, channel_offset)
    probs = predict_proba(model, x)
    f = {k: x[:, i] for i, k in enumerate(FEATURE_NAMES)}

    r_file = header.drift_resolution
    drift_r = drift / r_file if r_file > 0 else np.zeros_like(drift)
    artifact = np.zeros(len(hits), dtype=bool)
    nchan = np.asarray(data).shape[1]
    dc_dist = np.full(len(hits), np.nan)
    if header.nfpc and nchan == header.nfpc:
        local = ch - channel_offset
        still = np.abs(drift_r) <= STATIONARY_FACTOR
        dc_dist = np.abs(local - nchan // 2)
        on_dc = dc_dist <= 1
        on_edge = (local < EDGE_GUARD) | (local > nchan - 1 - EDGE_GUARD)
        artifact = still & (on_dc | on_edge)
    # a matched-filter boxcar >= 500 Hz wide is a broadband feature the baseline measured
    # (the flattened data no longer hold it, so the model cannot see it)
    boxcar_hz = np.array([h.boxcar_width * header.df_hz if h.source == MATCHED_FILTER
                          else 0.0 for h in hits])
    searched_bw = np.array([h.bandwidth_hz or np.inf for h in hits], dtype=float)
    broad = boxcar_hz >= BROADBAND_HZ
    idx, probs, conf = morphology(probs, drift_r, artifact, broad,
                                  ~broad & (searched_bw < BROADBAND_HZ))

    bw = np.maximum(f["bandwidth_hz"], [h.bandwidth_hz or 0.0 for h in hits])
    freq = np.array([h.frequency_hz for h in hits], dtype=float)
    band_idx = bands.match_hits_arrays(freq, drift, header.obs_length_s, bw)
    labels = np.array(MORPHOLOGIES, dtype=object)[idx]
    sources = np.full(len(hits), "", dtype=object)
    for i in np.nonzero((band_idx >= 0) & (idx != _I_NOISE))[0]:
        band = bands.bands[band_idx[i]]
        labels[i], sources[i] = band.label, band.name
    score = interestingness_arrays(probs, snr, labels, sources)

    for i, h in enumerate(hits):
        h.classification = str(labels[i])
        h.confidence = float(conf[i])
        h.probabilities = {m: float(p) for m, p in zip(MORPHOLOGIES, probs[i])}
        h.features = {k: float(v) for k, v in zip(FEATURE_NAMES, x[i])}
        if np.isfinite(dc_dist[i]):
            h.features["dc_dist_ch"] = float(dc_dist[i])
        h.rfi_source = str(sources[i])
        h.interestingness = float(score[i])
    return hits
