"""Pipeline results built from a small generated observation, without running a search.

The hits are the generator's truth (frequency at t = 0, drift, S/N, label), so the export
tests check the writers against known values; the display products (waterfall image,
stamps) are computed from the generated data exactly as the pipeline does.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from mitraseti.export.result import TOP_N, PipelineResult, is_candidate, rank_key
from mitraseti.export.stamps import StampKeeper
from mitraseti.export.waterfall import WaterfallAccumulator
from mitraseti.search.hit import MATCHED_FILTER, Hit
from mitraseti.search.params import SearchParams
from mitraseti.taxonomy import MORPHOLOGIES
from mitraseti.synth import NarrowbandSignal, make_observation

NFPC = 1024
N_COARSE = 4
RA_PACKED, DEC_PACKED = 174000.0, -121500.0   # 17h40m00s = 265.0 deg, -12d15m00s = -12.25 deg

# (channel, drift Hz/s, S/N, label given to the hit, interestingness)
SIGNALS = [
    (300.3, 0.5, 40.0, "NARROWBAND_DRIFTING", 0.81),
    (1500.3, 0.0, 30.0, "NARROWBAND_STATIONARY", 0.20),
    (2900.3, -1.0, 25.0, "NARROWBAND_DRIFTING", 0.64),
    (3700.3, 0.3, 60.0, "RFI_SATELLITE", 0.05),
]


def _hits_from_truth(synth) -> list[Hit]:
    hits = []
    for truth, (_, _, _, label, interest) in zip(synth.truth, SIGNALS):
        probs = {m: 0.02 for m in MORPHOLOGIES}
        probs["NARROWBAND_DRIFTING"] = 0.9
        hits.append(Hit(
            frequency_hz=truth.frequency_hz, drift_rate=truth.drift_rate, snr=truth.snr,
            channel_index=truth.channel_index, coarse_channel=truth.channel_index // NFPC,
            bandwidth_hz=truth.bandwidth_hz, classification=label, confidence=0.9,
            interestingness=interest, rfi_source="GPS L1" if label == "RFI_SATELLITE" else "",
            probabilities=probs, features={"width_channels": 1.0, "occupancy": 1.0},
            source=MATCHED_FILTER if label == "RFI_SATELLITE" else "dedoppler",
            start_time_mjd=synth.header.tstart))
    return hits


def build_result(path: Path, with_signals: bool = True) -> PipelineResult:
    """Write a generated observation to ``path`` and return a PipelineResult for it."""
    signals = [NarrowbandSignal(channel=c, drift_rate=d, snr=s) for c, d, s, _, _ in SIGNALS]
    synth = make_observation(n_spectra=16, n_chans=N_COARSE * NFPC, n_coarse_chan=N_COARSE,
                             signals=signals if with_signals else [], seed=7,
                             source_name="TEST_SRC", telescope_id=6, src_raj=RA_PACKED,
                             src_dej=DEC_PACKED)
    synth.write(path)
    header = synth.header
    hits = _hits_from_truth(synth) if with_signals else []
    raw = [Hit.from_dict(h.to_dict()) for h in hits for _ in range(2)]
    for r in raw:
        r.classification, r.confidence, r.interestingness = "", 0.0, 0.0
        r.probabilities, r.features = {}, {}
    acc = WaterfallAccumulator(header)
    keeper = StampKeeper(rank_key, TOP_N)
    for i in range(N_COARSE):
        block = synth.data[:, i * NFPC:(i + 1) * NFPC]
        acc.add(block, i * NFPC)
        for h in hits:
            if h.coarse_channel == i and is_candidate(h):
                keeper.offer(h, block, header, i * NFPC)
    return PipelineResult(
        path=path, header=header, params=SearchParams(max_drift=4.0, snr=10.0),
        source_name="TEST_SRC", raw_hits=raw, filtered_hits=hits,
        timings={"ingest": 0.01, "dedoppler": 0.02, "classify": 0.03, "export": 0.0},
        waterfall=acc.result(), stamps=keeper.stamps(), n_coarse_channels=N_COARSE, nfpc=NFPC)


@pytest.fixture
def result(tmp_path) -> PipelineResult:
    return build_result(tmp_path / "obs.fil")


@pytest.fixture
def empty_result(tmp_path) -> PipelineResult:
    return build_result(tmp_path / "empty.fil", with_signals=False)
