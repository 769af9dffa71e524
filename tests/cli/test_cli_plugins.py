"""Subcommands from other packages: cheap to register, and explained when they cannot load."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib import import_module

import pytest

from mitraseti.cli import CommandParser, CommandUnavailable, OneLineParser, _register

HEAVY = ("numpy", "numba", "sklearn", "tornado", "matplotlib", "jwt", "h5py", "scipy",
         "sqlalchemy", "alembic")


def run_cli(args, tmp_path, pythonpath=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITRASETI_")}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "mitraseti.cli", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


def shadow(tmp_path, package: str, message: str):
    """A folder holding a package ``package`` whose import raises ImportError(message)."""
    root = tmp_path / "shim"
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text(f"raise ImportError({message!r})\n")
    return root


def test_building_the_parser_imports_nothing_heavy(tmp_path):
    code = ("import sys; from mitraseti.cli import build_parser; p = build_parser(); "
            "p.parse_args(['analyze', 'x.fil']); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_broken_dependency_keeps_serve_listed_and_explains(tmp_path):
    shim = shadow(tmp_path, "tornado", "tornado is broken in this test")
    listing = run_cli(["--help"], tmp_path, shim)
    assert listing.returncode == 0 and "serve" in listing.stdout and "admin" in listing.stdout
    data_dir = tmp_path / "data"
    proc = run_cli(["serve", "--port", "0", "--dashboard-port", "0", "--data-dir",
                    str(data_dir)], tmp_path, shim)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "mitraseti: error: serve is unavailable: cannot import tornado "
        "(ImportError: tornado is broken in this test)"]
    assert not data_dir.exists()                  # failed before doing anything


def test_plugin_that_cannot_load_still_appears(tmp_path):
    shim = shadow(tmp_path, "mitraseti_server", "server package broken in this test")
    listing = run_cli(["--help"], tmp_path, shim)
    assert listing.returncode == 0
    assert "server" in listing.stdout and "unavailable" in listing.stdout
    proc = run_cli(["server", "serve", "--port", "0"], tmp_path, shim)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mitraseti: error: server is unavailable: ")
    assert "cannot import mitraseti_server" in lines[0] and "broken in this test" in lines[0]
    core = run_cli(["analyze", str(tmp_path / "none.fil")], tmp_path, shim)
    assert core.returncode == 2 and "none.fil" in core.stderr     # the rest still works


def test_register_adds_stand_ins_for_a_failing_loader():
    parser = OneLineParser(prog="mitraseti")
    sub = parser.add_subparsers(dest="command", parser_class=CommandParser)
    _register(sub, ("ghost", "spirit"),
              lambda: import_module("mitraseti_no_such_module_for_tests").register)
    assert {"ghost", "spirit"} <= set(sub.choices)
    args = parser.parse_args(["spirit", "anything", "--goes", "-v"])
    with pytest.raises(CommandUnavailable, match="cannot import mitraseti_no_such_module_for"):
        args.func(args)


def test_register_keeps_what_a_plugin_added_before_failing():
    parser = OneLineParser(prog="mitraseti")
    sub = parser.add_subparsers(dest="command", parser_class=CommandParser)

    def half_register(subparsers):
        subparsers.add_parser("first").set_defaults(func=lambda a: 0)
        raise RuntimeError("second command broken")

    _register(sub, ("first", "second"), lambda: half_register)
    assert parser.parse_args(["first"]).func(None) == 0
    args = parser.parse_args(["second"])
    with pytest.raises(CommandUnavailable, match="RuntimeError: second command broken"):
        args.func(args)


@pytest.mark.parametrize("argv, has_plugins", [
    (["analyze", "x.fil"], False),
    (["-v", "--log-level", "info", "demo"], False),
    (["jobs", "list"], False),
    (["serve", "--help"], True),
    (["--log-level", "debug", "admin"], True),
    (["--help"], True),
    ([], True),
])
def test_a_built_in_command_skips_loading_the_plugins(argv, has_plugins):
    from mitraseti.cli import build_parser

    sub = next(a for a in build_parser(argv)._actions if isinstance(a.choices, dict))
    assert {"analyze", "demo", "jobs"} <= set(sub.choices)
    assert ("serve" in sub.choices) is has_plugins
