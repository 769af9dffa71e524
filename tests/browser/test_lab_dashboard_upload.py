"""A 67 MB observation uploaded through the dashboard in a real JupyterLab becomes a job.

``mitraseti lab`` with the extension active; dashboard.ipynb signs in by itself (the kernel
inherits the server's API URL and token). The file is picked in the browser and sent by the
browser to the upload URLs, in 10 MB parts (multipart, above 50 MB); the kernel only sees
its name and size. The job completes and its page shows the candidates. Screenshots go to
tests/artifacts/.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from jupyterlab import NOTEBOOKS, lab_page, lab_serving, open_notebook, wait_until_cells_ran

pytestmark = pytest.mark.browser
UPLOAD = ".mitraseti-browser-upload"


def observation_67mb(path: Path) -> Path:
    """2^20 channels x 16 spectra of float32 (67 MB) with one strong drifting tone."""
    from mitraseti.io import write_fil
    from mitraseti.synth import NarrowbandSignal, make_observation

    n = 1 << 20
    obs = make_observation(n_spectra=16, n_chans=n, seed=11,
                           signals=[NarrowbandSignal(channel=0.4 * n + 0.3, drift_rate=0.5,
                                                     snr=80.0)])
    write_fil(path, obs.header, obs.data)
    return path


@pytest.fixture
def lab(tmp_path):
    with lab_serving(tmp_path, NOTEBOOKS / "dashboard.ipynb") as server:
        yield server


def test_browser_upload_of_67_mb_becomes_a_completed_job(chromium_path, lab, tmp_path,
                                                         artifacts):
    observation = observation_67mb(tmp_path / "upload_67mb.fil")
    size = observation.stat().st_size
    assert size > 67_000_000
    with lab_page(chromium_path, lab, artifacts, "lab_dashboard", height=1300) as page:
        open_notebook(page, lab, "dashboard.ipynb")
        wait_until_cells_ran(page)
        page.wait_for_selector(".mitraseti-dashboard .signed-in", timeout=60_000)
        limit = page.inner_text(f"{UPLOAD} .browser-upload-limit")
        assert limit.startswith("limit: ") and "GB" in limit       # researcher: 1 GiB
        page.set_input_files(f"{UPLOAD} input[type=file]", str(observation))
        page.wait_for_selector(f"{UPLOAD}[data-state='chosen']", timeout=30_000)
        page.click("button:has-text('Upload & analyze')")
        page.wait_for_selector(f"{UPLOAD}[data-state='uploading']", timeout=30_000)
        page.screenshot(path=str(artifacts / "lab_dashboard_uploading.png"))
        # done: the dashboard then shows its Jobs tab, so the Upload tab is hidden
        page.wait_for_selector(f"{UPLOAD}[data-state='done']", state="attached",
                               timeout=180_000)
        assert page.eval_on_selector(f"{UPLOAD} progress", "e => e.value") == 1
        status = page.text_content(f"{UPLOAD} .browser-upload-status")
        assert "(100 %)" in status and "submitted job" in status
        page.screenshot(path=str(artifacts / "lab_dashboard_uploaded.png"))
        page.wait_for_selector(".job-row.job-complete", timeout=300_000)
        page.screenshot(path=str(artifacts / "lab_dashboard_jobs.png"))
        page.click(".job-row.job-complete .open-job")
        page.wait_for_selector(".mitraseti-job-page .candidates-table tbody tr",
                               timeout=60_000)
        assert "complete" in page.inner_text(".mitraseti-job-page .job-title")
        rows = page.query_selector_all(
            ".mitraseti-job-page table.candidates-table tbody tr")
        assert any("NARROWBAND_DRIFTING" in r.inner_text() for r in rows)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(artifacts / "lab_dashboard_job_page.png"))
    # the API (mounted in this JupyterLab) received the whole file as one upload
    jobs = requests.get(f"{lab.url}/mitraseti/api/jobs", headers=lab.headers, timeout=30)
    job = jobs.json()[0]
    assert job["status"] == "complete" and job["file_size"] == size
    assert job["filename"] == observation.name


def test_the_dashboard_renders_as_an_app_beside_the_notebook(chromium_path, lab, artifacts):
    """The notebook toolbar's "Render with Voila" opens the dashboard as an app in a panel
    of JupyterLab, signed in through the extension (jobs without leaving JupyterLab)."""
    with lab_page(chromium_path, lab, artifacts, "lab_voila", height=1000) as page:
        page.goto(f"{lab.url}/lab/tree/dashboard.ipynb?token={lab.token}",
                  timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.click(".jp-NotebookPanel-toolbar [title='Render with Voilà']")
        page.click("button:has-text('Render anyway')", timeout=30_000)  # not yet trusted
        frame = page.frame_locator("iframe[src*='voila/render/dashboard.ipynb']")
        frame.locator(".mitraseti-dashboard .signed-in").wait_for(timeout=120_000)
        frame.locator(".lm-TabBar-tabLabel:text-is('Jobs')").click()
        frame.locator(".jobs-table").wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts / "lab_dashboard_voila_preview.png"))
