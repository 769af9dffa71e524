"""The Voila dashboard in a real Chromium against a real REST service.

Signs in with an API key, submits a small generated observation by its path on the
dashboard's machine, waits for the job to complete in the self-refreshing jobs table, opens
the job page and checks that the waterfall (a bokeh canvas) and the candidates table render.
Screenshots go to tests/artifacts/.
"""
from __future__ import annotations

import io

import pytest

from live_service import LiveService, free_port, small_observation

pytestmark = pytest.mark.browser

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-dev-shm-usage"]


@pytest.fixture
def service(tmp_path):
    svc = LiveService(tmp_path / "service").start()
    yield svc
    svc.stop()


@pytest.fixture
def dashboard(service, tmp_path, monkeypatch):
    from mitraseti.dashboard.launch import start_voila, stop_voila, wait_until_up

    monkeypatch.setenv("MITRASETI_DASHBOARD_REFRESH_S", "1")
    port = free_port()
    log = tmp_path / "voila.log"
    proc = start_voila(service.url, port=port, log_path=log)
    try:
        assert wait_until_up(port, timeout=90, proc=proc), log.read_text()[-3000:]
        yield f"http://127.0.0.1:{port}/", log
    finally:
        stop_voila(proc)


def distinct_colours(png: bytes) -> int:
    """Colours in the middle of the picture (the plot frame, away from axes, colour bar
    and toolbar): a rendered waterfall of noise has many, an empty frame two or three."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = img.size
    img = img.crop((int(0.2 * w), int(0.2 * h), int(0.6 * w), int(0.7 * h)))
    data = img.tobytes()
    return len({data[i:i + 3] for i in range(0, len(data), 3)})


def test_sign_in_upload_wait_and_open_the_job(chromium_path, service, dashboard, tmp_path,
                                              artifacts):
    from playwright.sync_api import sync_playwright

    url, voila_log = dashboard
    api_key = service.create_user("browser-user")
    observation = small_observation(tmp_path / "browser_obs.fil")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        try:
            page.goto(url, timeout=120_000)
            page.wait_for_selector(".mitraseti-dashboard", timeout=120_000)
            page.fill("input[type=password]", api_key)
            page.click("button:has-text('Sign in')")
            page.wait_for_selector(".signed-in", timeout=30_000)
            page.screenshot(path=str(artifacts / "dashboard_signed_in.png"), full_page=True)

            # a file on the dashboard's machine: streamed by the kernel, explorable
            page.fill(".mitraseti-dashboard input[placeholder='/data/observation.fil']",
                      str(observation))
            page.click("button:has-text('Upload & analyze')")
            page.wait_for_selector(".job-row", timeout=60_000)
            page.wait_for_selector(".job-row.job-complete", timeout=240_000)
            page.screenshot(path=str(artifacts / "dashboard_jobs.png"), full_page=True)

            page.click(".job-row.job-complete .open-job")
            page.wait_for_selector(".mitraseti-job-page .candidates-table", timeout=60_000)
            canvas = page.wait_for_selector(".mitraseti-explorer canvas", timeout=90_000)
            page.wait_for_selector(".download-link", timeout=60_000)
            page.wait_for_timeout(1500)                 # let bokeh paint
            page.screenshot(path=str(artifacts / "dashboard_job_page.png"), full_page=True)
            shot = canvas.screenshot()
            (artifacts / "dashboard_waterfall_canvas.png").write_bytes(shot)
            assert distinct_colours(shot) > 50          # an image, not a blank canvas
            # a wheel zoom in the browser makes the kernel re-read a narrower window
            status = ".mitraseti-explorer .explorer-status"
            before = page.inner_text(status)
            assert "channels 0-4095" in before
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
            for _ in range(5):
                page.mouse.wheel(0, -400)
                page.wait_for_timeout(200)
            page.wait_for_function(
                "([sel, old]) => { const e = document.querySelector(sel);"
                " return e && e.innerText !== old; }", arg=[status, before], timeout=30_000)
            after = page.inner_text(status)
            assert "channels 0-4095" not in after
            page.wait_for_timeout(1000)
            page.screenshot(path=str(artifacts / "dashboard_zoomed.png"), full_page=True)
            title = page.inner_text(".mitraseti-job-page .job-title")
            assert "complete" in title
            # the observation's strong straight drifting tone is listed as a candidate
            rows = page.query_selector_all(
                ".mitraseti-job-page table.candidates-table tbody tr")
            assert len(rows) >= 1 and "NARROWBAND_DRIFTING" in rows[0].inner_text()
            links = page.eval_on_selector_all(".download-link", "els => els.map(e => e.textContent)")
            assert any(t.startswith("json") for t in links)
            assert any(t.startswith("fits") for t in links)
            assert not page.query_selector("text=Traceback")
            # a file from this computer: the browser sends it to the API on another origin
            # (the service's port, not Voila's), so this also checks the signed URLs' CORS
            second = small_observation(tmp_path / "from_browser.fil", seed=8)
            page.click(".lm-TabBar-tabLabel:text-is('Upload')")
            page.set_input_files(".mitraseti-browser-upload input[type=file]", str(second))
            page.wait_for_selector(".mitraseti-browser-upload[data-state='chosen']",
                                   timeout=30_000)
            page.click("button:has-text('Upload & analyze')")
            page.wait_for_function("() => document.querySelectorAll('.job-row').length >= 2",
                                   timeout=120_000)
            page.click(".lm-TabBar-tabLabel:text-is('Upload')")
            page.wait_for_selector(".mitraseti-browser-upload[data-state='done']",
                                   timeout=30_000)
            page.screenshot(path=str(artifacts / "dashboard_browser_upload.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(artifacts / "dashboard_failure.png"), full_page=True)
            print(voila_log.read_text()[-5000:])
            raise
        finally:
            browser.close()
