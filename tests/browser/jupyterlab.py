"""A real JupyterLab for the browser tests, started the way a user does: ``mitraseti lab``.

``LabServer(root, data_dir).start()`` runs ``mitraseti lab --no-browser`` on a free port of
127.0.0.1 with a random token, its own MitraSETI data dir, its own Jupyter data dir (runtime files,
notebook trust) and JupyterLab settings that render every notebook cell (no windowing, so
off-screen outputs are painted too). ``lab_serving(tmp_path, *notebooks)`` gives one on a
copy of the notebooks and stops it afterwards; ``lab_page`` a Chromium page that leaves a
failure screenshot and the server's log when the test fails. ``open_notebook`` opens a
notebook in Playwright and runs all its cells through JupyterLab's Run menu.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from live_service import free_port, stop_process_group

# every cell rendered (off-screen outputs painted too); the notebook's kernel started without
# asking (JupyterLab asks when its kernel specs arrive after the notebook opens)
NOTEBOOK_SETTINGS = {"windowingMode": "none", "autoStartDefaultKernel": True}
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-dev-shm-usage"]
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


class LabServer:
    """``mitraseti lab`` in a subprocess (its own process group), stopped by ``stop()``."""

    def __init__(self, root: Path, data_dir: Path, work: Path):
        self.root, self.data_dir, self.work = Path(root), Path(data_dir), Path(work)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.work / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None

    def _settings_dir(self) -> Path:
        folder = self.work / "lab-user-settings" / "@jupyterlab" / "notebook-extension"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tracker.jupyterlab-settings").write_text(json.dumps(NOTEBOOK_SETTINGS))
        return self.work / "lab-user-settings"

    def start(self, timeout: float = 120.0) -> "LabServer":
        self.work.mkdir(parents=True, exist_ok=True)
        cmd = [str(Path(sys.executable).with_name("mitraseti")), "lab", "--no-browser",
               "--port", str(self.port), "--dir", str(self.root), "--open", "",
               "--data-dir", str(self.data_dir), "--",
               f"--IdentityProvider.token={self.token}",
               f"--LabApp.user_settings_dir={self._settings_dir()}",
               f"--LabApp.workspaces_dir={self.work / 'workspaces'}",
               "--ServerApp.port_retries=0", "--allow-root"]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MITRASETI_API_")}
        # its own Jupyter data dir: runtime files and notebook trust start empty each time
        env["JUPYTER_DATA_DIR"] = str(self.work / "jupyter-data")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         cwd=str(self.work), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if requests.get(f"{self.url}/api/status", timeout=5,
                                headers=self.headers).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"JupyterLab did not start:\n{self.log()}")

    @property
    def headers(self) -> dict:
        return {"Authorization": f"token {self.token}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() \
            else ""

    def stop(self) -> None:
        """Stop JupyterLab and its kernels (the process group)."""
        stop_process_group(self.proc, timeout=20)


@contextmanager
def lab_serving(tmp_path: Path, *notebooks: Path):
    """A started :class:`LabServer` on copies of ``notebooks`` (in ``tmp_path/notebooks``),
    stopped when the block ends."""
    root = tmp_path / "notebooks"
    root.mkdir(exist_ok=True)
    for notebook in notebooks:
        shutil.copy(notebook, root / notebook.name)
    server = LabServer(root, tmp_path / "data", tmp_path / "lab").start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def lab_page(chromium_path: str, lab: LabServer, artifacts: Path, name: str,
             height: int = 1200):
    """A Chromium page 1500 x ``height`` px; when the block fails, a full-page screenshot
    ``artifacts/<name>_failure.png`` and the server's log are left before the error goes on."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": height})
        try:
            yield page
        except Exception:
            page.screenshot(path=str(artifacts / f"{name}_failure.png"), full_page=True)
            print(lab.log())
            raise
        finally:
            browser.close()


PROMPTS = "[...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
ALL_RAN = (f"() => {{ const p = {PROMPTS};"
           " return p.length && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }")
NONE_STARTED = f"() => {PROMPTS}.every(e => !/\\[(\\*|\\d+)\\]/.test(e.textContent))"


def open_notebook(page, lab: LabServer, name: str, timeout: float = 180_000) -> None:
    """Open ``name`` in JupyterLab and run all its cells (Run menu)."""
    page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}", timeout=timeout)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout)
    # wait until the kernel is connected and idle before running
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=timeout)
    page.wait_for_timeout(2000)     # let the widget manager attach to the kernel
    run_all(page)


def run_all(page) -> None:
    accept_kernel_dialog(page)
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")


def accept_kernel_dialog(page) -> None:
    """JupyterLab asks which kernel to start when its session came up slowly: take the
    notebook's own (the dialog's default)."""
    select = page.query_selector(".jp-Dialog:has-text('Select Kernel') "
                                 "button.jp-mod-accept")
    if select is not None:
        select.click()
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=120_000)


def clear_outputs(page) -> None:
    page.click(".lm-MenuBar-itemLabel:text-is('Edit')")
    page.click(".lm-Menu-itemLabel:text-is('Clear Outputs of All Cells')")


def wait_until_cells_ran(page, timeout: float = 300.0, stalled: float = 20.0,
                         reruns: int = 2) -> None:
    """Every code cell has an execution count. Run All is clicked again when no cell has
    started ``stalled`` s after the last click (a click while the kernel is still
    connecting is dropped), and the notebook is run again (``reruns`` times at most) when
    a widget came before JupyterLab's widget manager was attached ("model not found")."""
    deadline = time.monotonic() + timeout
    last_click = time.monotonic()
    while time.monotonic() < deadline:
        if page.evaluate(ALL_RAN):
            page.wait_for_timeout(1000)
            if reruns and page.query_selector("text=Error displaying widget: model not found"):
                reruns -= 1
                clear_outputs(page)
                run_all(page)
                last_click = time.monotonic()
                continue
            return
        if page.evaluate(NONE_STARTED) and time.monotonic() - last_click > stalled:
            run_all(page)
            last_click = time.monotonic()
        page.wait_for_timeout(500)
    raise AssertionError(f"the notebook's cells did not all run in {timeout:.0f} s")
