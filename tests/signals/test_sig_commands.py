"""The train / evaluate / cadence subcommands through a real argparse parser."""
import argparse

import pytest

from mitraseti.cli import main
from mitraseti.signals import commands, model as M


@pytest.fixture()
def parser():
    p = argparse.ArgumentParser(prog="mitraseti")
    commands.register(p.add_subparsers(dest="command"))
    return p


def test_register_adds_the_three_commands(parser):
    a = parser.parse_args(["train", "--seed", "3", "--out", "x.skops"])
    assert (a.func, a.seed, a.out) == (commands.cmd_train, 3, "x.skops")
    a = parser.parse_args(["evaluate", "--seed", "2"])
    assert (a.func, a.seed) == (commands.cmd_evaluate, 2)
    a = parser.parse_args(["cadence", "a.fil", "b.fil", "--filter-level", "2", "--out", "o"])
    assert (a.func, a.files, a.filter_level, a.out) == (commands.cmd_cadence,
                                                       ["a.fil", "b.fil"], 2, "o")
    with pytest.raises(SystemExit):
        parser.parse_args(["cadence", "a.fil", "--filter-level", "4"])


def test_train_writes_a_loadable_model(parser, tmp_path, capsys):
    out = tmp_path / "m.skops"
    a = parser.parse_args(["train", "--seed", "1", "--out", str(out), "--n-per-label", "6",
                           "--workers", "1"])
    assert a.func(a) == 0
    assert "wrote" in capsys.readouterr().out
    assert M.load(out).mitraseti_meta["seed"] == 1


def test_evaluate_prints_table_and_confusion(parser, capsys):
    a = parser.parse_args(["evaluate", "--seed", "5", "--n-per-label", "4", "--workers", "1"])
    rc = a.func(a)
    out = capsys.readouterr().out
    assert rc in (0, 1)
    for word in ("standard", "held_out", "dirty", "long_held_out", "precision", "recall", "F1",
                 "confusion", "NB_DRIFTING", "macro-F1"):
        assert word in out
    for name, target in commands.MACRO_F1_TARGETS.items():   # every set has its target
        block = out.split(f"== {name}:")[1].split("==")[0]
        assert f"target macro-F1 >= {target:.2f}" in block


def test_evaluate_with_a_tampered_model_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.skops"
    bad.write_bytes(b"not a model")
    (tmp_path / "bad.json").write_text('{"sha256": "0"}')
    assert main(["evaluate", "--model", str(bad)]) == 2
    assert "mitraseti train" in capsys.readouterr().err


def test_cadence_bad_input_exits_2_naming_the_file(tmp_path, capsys):
    assert main(["cadence", str(tmp_path / "on.fil"), str(tmp_path / "off.fil"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "on.fil" in capsys.readouterr().err
