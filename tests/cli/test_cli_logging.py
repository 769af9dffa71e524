"""-v / -vv / --log-level on every command; `serve` logs at INFO unless told otherwise."""
from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys

import pytest
import requests

from mitraseti.cli import OWN_LOGGERS, build_parser, configure_logging, log_level_for

D, I, W, E = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = root.level, list(root.handlers), [logging.getLogger(n).level for n in OWN_LOGGERS]
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, level in zip(OWN_LOGGERS, saved[2]):
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("argv, level", [
    (["analyze", "x.fil"], W),
    (["-v", "analyze", "x.fil"], I),
    (["analyze", "x.fil", "-vv"], D),
    (["-v", "analyze", "x.fil", "-v"], D),               # counts add up across positions
    (["analyze", "x.fil", "--log-level", "Error"], E),
    (["--log-level", "error", "demo", "-vv"], E),         # an explicit level wins over -v
    (["serve"], I),                                      # serve's own default
    (["serve", "--log-level", "warning"], W),
    (["-vv", "serve"], D),
    (["admin", "token", "bob", "-v"], I),
])
def test_level_from_the_command_line(argv, level):
    assert log_level_for(build_parser().parse_args(argv)) == level


def test_bad_level_is_a_one_line_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["analyze", "x.fil", "--log-level", "loud"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--log-level" in err[0]


def test_debug_is_ours_only_and_one_handler(restore_logging, capsys):
    configure_logging(D)
    configure_logging(D)
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "_StderrHandler"]
    assert len(ours) == 1
    logging.getLogger("mitraseti.pipeline").debug("ours at debug")
    logging.getLogger("numba.core.byteflow").debug("theirs at debug")
    logging.getLogger("numba.core.byteflow").info("theirs at info")
    configure_logging(W)
    logging.getLogger("mitraseti.pipeline").info("ours at info, now hidden")
    err = capsys.readouterr().err
    assert "ours at debug" in err and "theirs at info" in err
    assert "theirs at debug" not in err and "now hidden" not in err


def serve_and_hit_health(tmp_path, *extra):
    """Start `mitraseti serve`, GET /health once, stop it; returns its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITRASETI_")}
    proc = subprocess.Popen([sys.executable, "-m", "mitraseti.cli", "serve", "--port", "0",
                             "--dashboard-port", "0", "--data-dir", str(tmp_path / "data"),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path)
    try:
        banner = ""
        for line in proc.stdout:
            banner += line
            if line.startswith("Admin:"):
                break
        url = re.search(r"listening on (http://\S+)", banner).group(1)
        assert requests.get(url + "/health", timeout=30).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def test_serve_logs_requests_at_info_by_default(tmp_path):
    err = serve_and_hit_health(tmp_path)
    assert re.search(r"INFO tornado\.access: 200 GET \S*/health", err), err


def test_serve_log_level_warning_hides_them(tmp_path):
    err = serve_and_hit_health(tmp_path, "--log-level", "warning")
    assert "tornado.access" not in err and "/health" not in err
