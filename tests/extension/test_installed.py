"""The extension is enabled by what an install leaves in the environment, not by the tests.

- ``jupyter server extension list`` of this environment (the one ``make install`` built)
  lists it enabled and validated;
- a plain ``jupyter server`` started here, with no extension options, serves the REST API
  through it (Jupyter's token authenticates), and so does ``mitraseti lab``;
- a wheel (what pip and a conda environment install) carries the config file, and its
  data files laid into a fresh prefix enable the extension there; ``python -m
  mitraseti_extension enable`` (what ``make install`` runs after an editable install,
  which skips data files) writes the same file.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SOURCE_CONFIG = ROOT / "jupyter-config" / "jupyter_server_config.d" / "mitraseti_extension.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyter_lists_the_extension_enabled_and_validated():
    out = subprocess.run([str(BIN / "jupyter"), "server", "extension", "list"],
                         capture_output=True, text=True, timeout=120)
    text = ANSI.sub("", out.stdout + out.stderr)
    assert re.search(r"^\s*mitraseti_extension enabled\s*$", text, re.M), text
    assert re.search(r"^\s*mitraseti_extension\s.*\bOK\s*$", text, re.M), text


JUPYTER_SERVER = [str(BIN / "jupyter"), "server", "--no-browser", "--ServerApp.ip=127.0.0.1",
                  "--ServerApp.port={port}", "--ServerApp.root_dir={root}"]
MITRASETI_LAB = [str(BIN / "mitraseti"), "lab", "--no-browser", "--port", "{port}", "--dir",
                 "{root}", "--"]


@pytest.fixture(params=["jupyter server", "mitraseti lab"])
def jupyter_server(request, tmp_path):
    """``jupyter server`` on a free port as a user starts it (no extension options), or
    ``mitraseti lab``."""
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITRASETI_")}
    env["MITRASETI_DATA_DIR"] = str(tmp_path / "data")
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter-data")
    base = JUPYTER_SERVER if request.param == "jupyter server" else MITRASETI_LAB
    cmd = [a.format(port=port, root=tmp_path) for a in base] + [
        "--ServerApp.port_retries=0", "--allow-root", f"--IdentityProvider.token={token}"]
    log = tmp_path / "jupyter.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(f"{url}/api/status", timeout=5,
                                headers={"Authorization": f"token {token}"}).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            raise RuntimeError(f"jupyter server did not start:\n{log.read_text()[-4000:]}")
        yield url, token, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)


def test_a_plain_jupyter_server_serves_the_api_through_the_extension(jupyter_server):
    url, token, log = jupyter_server
    health = requests.get(f"{url}/mitraseti/api/health", timeout=30)
    assert health.status_code == 200, log.read_text()[-4000:]
    assert health.json()["status"] == "healthy"
    usage = requests.get(f"{url}/mitraseti/api/usage", timeout=30,
                         headers={"Authorization": f"token {token}"})
    assert usage.status_code == 200 and usage.json()["tier"] == "researcher"
    denied = requests.get(f"{url}/mitraseti/api/usage", timeout=30)
    assert denied.status_code == 403
    page = requests.get(f"{url}/mitraseti", headers={"Authorization": f"token {token}"},
                        timeout=30)
    assert page.ok and "dashboard" in page.text.lower()


def enabled_in(prefix: Path) -> bool:
    """What Jupyter Server reads from ``<prefix>/etc/jupyter``: is the extension on?"""
    from jupyter_server.extension.config import ExtensionConfigManager

    manager = ExtensionConfigManager(read_config_path=[str(prefix / "etc" / "jupyter")])
    return bool(manager.enabled("mitraseti_extension"))


def install_data_files(wheel: Path, prefix: Path) -> None:
    """Put a wheel's ``<name>.data/data/`` files under ``prefix``, as installers must (the
    wheel format's rule). Not pip itself: pip would also uninstall this environment's
    editable install, which the other tests use."""
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            head, _, rest = name.partition(".data/data/")
            if rest and "/" not in head:
                (prefix / rest).parent.mkdir(parents=True, exist_ok=True)
                (prefix / rest).write_bytes(zf.read(name))


def test_a_wheel_install_and_the_enable_command_write_the_same_config(tmp_path):
    src = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for name in tracked:                        # the committed tree, built away from ROOT
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                            str(tmp_path / "dist"), str(src)], capture_output=True, text=True,
                           timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("mitraseti-*.whl"))
    prefix = tmp_path / "prefix"
    install_data_files(wheel, prefix)
    from_wheel = prefix / "etc/jupyter/jupyter_server_config.d/mitraseti_extension.json"
    assert json.loads(from_wheel.read_text()) == json.loads(SOURCE_CONFIG.read_text())
    assert enabled_in(prefix)
    assert (prefix / "share/mitraseti/notebooks/dashboard.ipynb").is_file()

    other = tmp_path / "editable-env"
    assert not enabled_in(other)
    written = subprocess.run([sys.executable, "-m", "mitraseti_extension", "enable",
                              "--prefix", str(other)], capture_output=True, text=True,
                             timeout=120)
    assert written.returncode == 0, written.stderr
    assert enabled_in(other)
    by_command = other / "etc/jupyter/jupyter_server_config.d/mitraseti_extension.json"
    assert json.loads(by_command.read_text()) == json.loads(from_wheel.read_text())
