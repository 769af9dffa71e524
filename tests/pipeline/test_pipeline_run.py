"""mitraseti.pipeline.run and its stage functions on a small generated observation."""
from __future__ import annotations

import json

import jsonschema
import pytest

from mitraseti import pipeline
from mitraseti.export import FILENAMES, SCHEMA_PATH
from mitraseti.io import ObservationFormatError, ObservationNotFoundError
from mitraseti.search.params import ParameterError

API_RESULTS_KEYS = {"raw_hits", "filtered_hits", "candidates", "processing_time_seconds",
                    "top_candidates"}
STAGES = ["ingest", "dedoppler", "classify", "export"]


def n_coarse(synth) -> int:
    return synth.header.nchans // synth.header.nfpc


@pytest.fixture(scope="module")
def run_once(small_obs, tmp_path_factory):
    path, synth = small_obs
    out = tmp_path_factory.mktemp("run")
    steps = []
    result = pipeline.run(path, out, n_coarse_chan=n_coarse(synth),
                          progress=lambda s, f, m: steps.append((s, f, m)))
    return result, out, steps, synth


def test_finds_every_injected_signal(run_once):
    result, _, _, synth = run_once
    r = synth.header.drift_resolution
    for truth in synth.truth:
        near = [h for h in result.filtered_hits
                if abs(h.channel_index - truth.channel_index) <= 2
                and abs(h.drift_rate - truth.drift_rate) <= 3 * r]
        assert near, f"no filtered hit for injected {truth.frequency_hz} Hz, {truth.drift_rate} Hz/s"
        assert abs(near[0].frequency_hz - truth.frequency_hz) <= 2 * synth.header.df_hz
    assert len(result.raw_hits) >= len(result.filtered_hits) >= len(synth.truth)


def test_summary_is_the_api_results_object(run_once):
    result, _, _, _ = run_once
    s = result.summary()
    assert set(s) == API_RESULTS_KEYS
    assert s["raw_hits"] == len(result.raw_hits)
    assert s["filtered_hits"] == len(result.filtered_hits)
    cands = [h for h in result.filtered_hits
             if h.classification in ("NARROWBAND_DRIFTING", "CANDIDATE_ET")]
    assert s["candidates"] == len(cands)
    interest = [c["interestingness"] for c in s["top_candidates"]]
    assert interest == sorted(interest, reverse=True) and len(interest) == min(20, len(cands))
    assert set(result.timings) >= set(STAGES)
    assert all(v >= 0 for v in result.timings.values())
    assert s["processing_time_seconds"] == pytest.approx(sum(result.timings[k] for k in STAGES),
                                                         abs=1e-3)
    json.dumps(s)   # JSON-ready


def test_every_export_written_and_valid(run_once):
    result, out, _, synth = run_once
    for fmt, name in FILENAMES.items():
        assert (out / name).is_file() and result.outputs[fmt] == out / name
    doc = json.loads((out / "results.json").read_text())
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))
    assert doc["filtered_hits"] == len(doc["signals"]) == len(result.filtered_hits)
    assert doc["parameters"]["n_coarse_chan"] == n_coarse(synth) == doc["n_coarse_channels"]
    rows = (out / "signals.csv").read_text().splitlines()
    assert len(rows) == 1 + len(result.filtered_hits)
    # two injected signals drift well above 1.5 r: they must come out as candidates
    assert len(result.top_candidates) >= 2
    stamps = sorted(p.name for p in (out / "stamps").glob("cand_*.png"))
    assert stamps == [f"cand_{i:02d}.png" for i in range(len(result.top_candidates))]


def test_progress_reports_every_stage_in_order(run_once):
    _, _, steps, synth = run_once
    first_seen = []
    for stage, fraction, message in steps:
        assert 0.0 <= fraction <= 1.0 and isinstance(message, str)
        if stage not in first_seen:
            first_seen.append(stage)
    assert first_seen == STAGES
    assert steps[-1][:2] == ("export", 1.0)
    dd = [f for s, f, _ in steps if s == "dedoppler"]
    assert dd == sorted(dd) and dd[-1] == 1.0 and len(dd) == n_coarse(synth)


def test_stage_functions_give_the_same_result(run_once, small_obs, tmp_path):
    result, _, _, _ = run_once
    path, synth = small_obs
    with pipeline.ingest(path, n_coarse_chan=n_coarse(synth)) as state:
        found = pipeline.dedoppler(state, pipeline.make_params(n_coarse_chan=n_coarse(synth)))
        staged = pipeline.classify(state, found)
    outputs = pipeline.export(staged, tmp_path)
    key = [(h.channel_index, h.drift_rate, h.snr, h.classification, h.source)
           for h in staged.filtered_hits]
    assert key == [(h.channel_index, h.drift_rate, h.snr, h.classification, h.source)
                   for h in result.filtered_hits]
    assert len(staged.raw_hits) == len(result.raw_hits)
    assert staged.summary()["top_candidates"] == result.summary()["top_candidates"]
    assert set(outputs) == set(result.outputs)


def test_bad_input_raises_named_errors(small_obs, tmp_path):
    path, _ = small_obs
    with pytest.raises(ParameterError, match="max_drift"):
        pipeline.run(path, tmp_path, max_drift=-1.0)
    with pytest.raises(ParameterError, match="snr"):
        pipeline.run(path, tmp_path, snr=0.0)
    with pytest.raises(ObservationNotFoundError, match="nope.fil"):
        pipeline.run(tmp_path / "nope.fil", tmp_path)
    garbage = tmp_path / "garbage.fil"
    garbage.write_bytes(b"this is not a filterbank file" * 10)
    with pytest.raises(ObservationFormatError, match="garbage.fil"):
        pipeline.run(garbage, tmp_path)
    assert not (tmp_path / "results.json").exists()


def test_unusable_classifier_is_reported_not_silent(small_obs, tmp_path, monkeypatch):
    """With a tampered model file the run completes, unlabelled, and says so everywhere."""
    from mitraseti.signals import model as model_mod

    path, synth = small_obs
    shipped = model_mod.default_model_path()
    bad = tmp_path / "model" / shipped.name
    bad.parent.mkdir()
    bad.write_bytes(shipped.read_bytes()[:-100])                    # truncated
    model_mod.sidecar_path(bad).write_bytes(model_mod.sidecar_path(shipped).read_bytes())
    monkeypatch.setattr(model_mod, "default_model_path", lambda: bad)
    monkeypatch.setattr(model_mod, "_CACHE", {})
    out = tmp_path / "out"
    result = pipeline.run(path, out, n_coarse_chan=n_coarse(synth))
    assert result.filtered_hits and all(h.classification == "" for h in result.filtered_hits)
    assert result.warnings and "classification unavailable" in result.warnings[0]
    assert "checksum" in result.warnings[0]
    doc = json.loads((out / "results.json").read_text())
    assert doc["warnings"] == result.warnings and doc["candidates"] == 0
    assert json.loads((out / "classified.json").read_text())["classified"] is False
