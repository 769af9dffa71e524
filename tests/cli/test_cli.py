"""The `mitraseti` command: exit status 0 on success, 2 with a one-line error for bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mitraseti.cli import build_parser, main
from mitraseti.export import FILENAMES
from mitraseti.synth import NarrowbandSignal, make_observation


@pytest.fixture(scope="module")
def obs_file(tmp_path_factory):
    synth = make_observation(n_spectra=16, n_chans=2048, seed=3, source_name="CLI_SRC",
                             signals=[NarrowbandSignal(channel=700.3, drift_rate=0.6, snr=40)])
    return synth.write(tmp_path_factory.mktemp("cli") / "cli_obs.fil")


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("mitraseti: error: ")
    return err[0]


def test_analyze_default_out_dir_and_summary(obs_file, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", str(obs_file), "--max-drift", "2", "--snr", "12"]) == 0
    out_dir = tmp_path / "cli_obs_results"
    for name in FILENAMES.values():
        assert (out_dir / name).is_file(), name
    doc = json.loads((out_dir / "results.json").read_text())
    assert doc["parameters"]["max_drift"] == 2.0 and doc["parameters"]["snr"] == 12.0
    assert doc["source_name"] == "CLI_SRC" and doc["filtered_hits"] >= 1
    stdout = capsys.readouterr().out
    assert f"{doc['raw_hits']} raw hits" in stdout and str(out_dir) in stdout


def test_analyze_out_and_source_name(obs_file, tmp_path):
    out = tmp_path / "elsewhere"
    assert main(["analyze", str(obs_file), "--out", str(out), "--source-name", "RENAMED",
                 "--min-drift", "0.1", "-q"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["source_name"] == "RENAMED" and doc["parameters"]["min_drift"] == 0.1


@pytest.mark.parametrize("args, words", [
    (["--max-drift", "-1"], "max_drift"),
    (["--snr", "0"], "snr"),
    (["--min-drift", "5", "--max-drift", "1"], "min_drift"),
    (["--n-coarse-chan", "3"], "n_coarse_chan"),          # 3 does not divide 2048
    (["--snr", "abc"], "--snr"),                           # argparse type error
    (["--notebook", "--kernel", "no-such-kernel"], "no-such-kernel"),
])
def test_bad_parameters_exit_2_with_one_line(obs_file, tmp_path, capsys, args, words):
    argv = ["analyze", str(obs_file), "--out", str(tmp_path / "o")] + args
    try:
        code = main(argv)
    except SystemExit as exc:   # argparse reports type errors itself
        code = exc.code
    assert code == 2
    assert words in one_line_error(capsys)
    assert not (tmp_path / "o" / "results.json").exists()


def test_missing_and_malformed_files_exit_2(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "absent.fil"), "--out", str(tmp_path)]) == 2
    assert "absent.fil" in one_line_error(capsys)
    bad = tmp_path / "broken.fil"
    bad.write_bytes(b"\x00\x01garbage" * 50)
    assert main(["analyze", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "broken.fil" in one_line_error(capsys)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert main(["analyze", str(text), "--out", str(tmp_path / "o")]) == 2
    assert "notes.txt" in one_line_error(capsys)


def test_console_entry_point_exit_status(tmp_path):
    """The real process: status 2 and exactly one stderr line."""
    proc = subprocess.run([sys.executable, "-m", "mitraseti.cli", "analyze",
                           str(tmp_path / "none.h5")], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        line for line in proc.stderr.strip().splitlines() if line.startswith("mitraseti: error:")]
    assert len(proc.stderr.strip().splitlines()) == 1 and "none.h5" in proc.stderr


def test_demo_generates_and_analyses(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--coarse-channels", "2",
                 "--fine-channels", "2048"]) == 0
    assert (out / "demo_observation.fil").is_file()
    doc = json.loads((out / "results" / "results.json").read_text())
    assert doc["n_coarse_channels"] == 2 and doc["filtered_hits"] >= 3
    stdout = capsys.readouterr().out
    assert str(out / "results") in stdout and "demo_observation.fil" in stdout


def test_parser_has_core_commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"analyze", "demo"} <= set(sub.choices)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["analyze"])          # PATH is required
    assert exc.value.code == 2
