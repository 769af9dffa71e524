"""`mitraseti analyze` on several files: per-file result folders, hits_all.csv, exit status."""
from __future__ import annotations

import csv

import pytest

from mitraseti.batch import expand_inputs, result_dirs
from mitraseti.cli import main
from mitraseti.synth import NarrowbandSignal, make_observation

N_CHANS = 4096
TONE_CHANNELS = (900.3, 1900.3, 2900.3)      # one tone per file, different frequencies


@pytest.fixture(scope="module")
def obs_dir(tmp_path_factory):
    """Three small seeded observations, each with one drifting tone."""
    folder = tmp_path_factory.mktemp("batch") / "obs"
    folder.mkdir()
    for i, channel in enumerate(TONE_CHANNELS):
        synth = make_observation(n_spectra=16, n_chans=N_CHANS, seed=10 + i,
                                 source_name=f"SRC{i}",
                                 signals=[NarrowbandSignal(channel=channel, drift_rate=0.4,
                                                           snr=40)])
        synth.write(folder / f"obs{i}.fil")
    (folder / "notes.txt").write_text("not an observation")   # ignored in a folder
    return folder


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_folder_with_two_jobs(obs_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze", str(obs_dir), "--out", str(out), "--jobs", "2", "--snr", "12"]) == 0
    names = [f"obs{i}" for i in range(3)]
    per_file = {n: read_csv(out / f"{n}_results" / "signals.csv") for n in names}
    assert all(per_file.values()), "each file holds an injected tone"
    merged = read_csv(out / "hits_all.csv")
    assert len(merged) == sum(len(rows) for rows in per_file.values())
    assert list(merged[0]) == ["file"] + list(per_file["obs0"][0])
    files = [row["file"] for row in merged]
    assert files == sorted(files)                      # by file (batch order is sorted) ...
    assert {str(obs_dir / f"{n}.fil") for n in names} == set(files)
    for name in set(files):                            # ... then by frequency
        freqs = [float(r["frequency_hz"]) for r in merged if r["file"] == name]
        assert freqs == sorted(freqs)
    assert not (out / "notes_results").exists()
    stdout = capsys.readouterr().out
    assert all(f"{n}.fil" in stdout for n in names) and "3/3 files" in stdout


def test_glob_selects_matching_files(obs_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["analyze", str(obs_dir / "obs[02].fil"), "--out", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["hits_all.csv", "obs0_results",
                                                    "obs2_results"]
    merged = read_csv(out / "hits_all.csv")
    assert {r["file"] for r in merged} == {str(obs_dir / "obs0.fil"), str(obs_dir / "obs2.fil")}


def test_bad_file_is_reported_and_the_batch_goes_on(obs_dir, tmp_path, capsys):
    bad = tmp_path / "broken.fil"
    bad.write_bytes(b"\x00\x01garbage" * 50)
    out = tmp_path / "out"
    code = main(["analyze", str(obs_dir / "obs1.fil"), str(bad), "--out", str(out), "-q"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.fil" in err[0] and err[0].startswith("mitraseti: error:")
    assert (out / "obs1_results" / "signals.csv").is_file()
    assert {r["file"] for r in read_csv(out / "hits_all.csv")} == {str(obs_dir / "obs1.fil")}


def test_pipeline_failure_exits_1(obs_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "obs0_results").write_text("a file where the result folder should go")
    code = main(["analyze", str(obs_dir / "obs0.fil"), str(obs_dir / "obs2.fil"),
                 "--out", str(out), "-q"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "obs0.fil" in err[0] and "failed" in err[0]
    assert (out / "obs2_results" / "signals.csv").is_file()


def test_bad_parameters_stop_the_batch_before_any_work(obs_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze", str(obs_dir), "--out", str(out), "--snr", "-1"]) == 2
    assert "snr" in capsys.readouterr().err
    assert not out.exists()


def test_nothing_to_analyse_is_bad_input(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["analyze", str(tmp_path / "empty"), str(tmp_path / "*.h5")]) == 2
    err = capsys.readouterr().err
    assert "empty" in err and "*.h5" in err


def test_expand_inputs_order_and_repeats(obs_dir):
    files, problems = expand_inputs([str(obs_dir / "obs2.fil"), str(obs_dir),
                                     str(obs_dir / "nothing*.fil")])
    assert [p.name for p in files] == ["obs2.fil", "obs0.fil", "obs1.fil"]
    assert [str(p.path) for p in problems] == [str(obs_dir / "nothing*.fil")]


def test_result_dirs_avoid_collisions(tmp_path):
    files = [tmp_path / "a" / "x.fil", tmp_path / "b" / "x.fil", tmp_path / "x.h5",
             tmp_path / "y.fil"]
    names = [d.name for d in result_dirs(files, tmp_path / "out")]
    assert names == ["x.fil_results", "x.fil_2_results", "x.h5_results", "y_results"]
    assert len(set(names)) == len(names)
