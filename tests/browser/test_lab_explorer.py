"""The waterfall explorer in a real JupyterLab (``mitraseti lab``) under Chromium.

explore.ipynb, run from JupyterLab's Run menu: the bokeh canvas shows a real image, a wheel
zoom makes the kernel re-read a narrower window until it is at full resolution (one channel
per pixel), and the signals table shows. Then a 4 GiB observation: it opens without being
loaded (the kernel's peak memory stays far below the file's size) and a zoom redraws; the
time from the zoom to the redrawn canvas is printed. Screenshots go to tests/artifacts/.
"""
from __future__ import annotations

import nbformat
import pytest

from big_observation import write_big_fil
from jupyterlab import NOTEBOOKS, lab_page, lab_serving, open_notebook, wait_until_cells_ran
from test_dashboard_browser import distinct_colours

pytestmark = pytest.mark.browser
WINDOW = ".mitraseti-explorer .explorer-window"


@pytest.fixture
def lab(tmp_path):
    with lab_serving(tmp_path, NOTEBOOKS / "explore.ipynb") as server:
        yield server


def window_of(page) -> dict:
    """The explorer's current window (display columns, channels per pixel) from the page."""
    return page.eval_on_selector(WINDOW, "e => ({u0: +e.dataset.u0, u1: +e.dataset.u1,"
                                 " perPixel: +e.dataset.channelsPerPixel,"
                                 " step: +e.dataset.spectraStep})")


def wheel_zoom_once(page, canvas, before: dict, timeout: float = 60_000) -> float:
    """One wheel zoom on the canvas; waits for the re-read window and two painted frames.
    Returns the milliseconds from the wheel event to the redrawn canvas."""
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.42, box["y"] + box["height"] * 0.5)
    start = page.evaluate("() => performance.now()")
    page.mouse.wheel(0, -600)
    page.wait_for_function(
        "([sel, u0, u1]) => { const e = document.querySelector(sel);"
        " return e && (+e.dataset.u0 !== u0 || +e.dataset.u1 !== u1); }",
        arg=[WINDOW, before["u0"], before["u1"]], timeout=timeout)
    end = page.evaluate("() => new Promise(r => requestAnimationFrame(() =>"
                        " requestAnimationFrame(() => r(performance.now()))))")
    return end - start


def zoom_to_full_resolution(page, canvas, max_steps: int = 12) -> list[float]:
    """Wheel-zoom until one channel per pixel; returns the zoom-to-redraw times (ms)."""
    times, window = [], window_of(page)
    for _ in range(max_steps):
        if window["perPixel"] == 1:
            break
        times.append(wheel_zoom_once(page, canvas, window))
        page.wait_for_timeout(300)      # let bokeh's trailing range event settle
        new = window_of(page)
        assert new["u1"] - new["u0"] < window["u1"] - window["u0"]
        window = new
    return times


def test_explore_notebook_in_jupyterlab(chromium_path, lab, artifacts):
    with lab_page(chromium_path, lab, artifacts, "lab_explore") as page:
        open_notebook(page, lab, "explore.ipynb")
        wait_until_cells_ran(page)
        canvas = page.wait_for_selector(".mitraseti-explorer canvas", timeout=120_000)
        page.wait_for_selector(WINDOW, timeout=60_000)
        canvas.scroll_into_view_if_needed()
        page.wait_for_timeout(1500)                       # let bokeh paint
        page.screenshot(path=str(artifacts / "lab_explore.png"))
        shot = canvas.screenshot()
        (artifacts / "lab_explore_canvas.png").write_bytes(shot)
        assert distinct_colours(shot) > 50                # an image, not a blank canvas
        first = window_of(page)
        assert (first["u0"], first["u1"]) == (0, 4096) and first["perPixel"] > 1
        times = zoom_to_full_resolution(page, canvas)
        last = window_of(page)
        assert last["perPixel"] == 1 and last["u1"] - last["u0"] < 4096
        page.wait_for_timeout(800)
        page.screenshot(path=str(artifacts / "lab_explore_zoomed.png"))
        print(f"explore.ipynb zoom-to-redraw (ms): {[round(t) for t in times]}")
        rows = page.query_selector_all(
            ".mitraseti-explorer .explorer-candidates table.candidates-table tbody tr")
        assert len(rows) >= 2            # both injected signals are listed
        assert not page.query_selector(".jp-OutputArea-output[data-mime-type="
                                       "'application/vnd.jupyter.stderr'] >> "
                                       "text=Traceback")


BIG_NOTEBOOK = """\
import resource
from IPython.display import display
from mitraseti.widgets import WaterfallExplorer

explorer = WaterfallExplorer({path!r})      # opens the file and renders coarse channel 0
display(explorer)
print(f"peak kernel memory: {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}} MiB")"""


def test_a_4_gib_observation_opens_and_zooms_in_jupyterlab(chromium_path, tmp_path,
                                                            artifacts):
    big = write_big_fil(tmp_path / "big.fil")
    assert big.stat().st_size > 4 * 2**30
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(BIG_NOTEBOOK.format(path=str(big)))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, tmp_path / "big.ipynb")
    with lab_serving(tmp_path, tmp_path / "big.ipynb") as lab, \
            lab_page(chromium_path, lab, artifacts, "lab_big") as page:
        open_notebook(page, lab, "big.ipynb")
        wait_until_cells_ran(page)
        canvas = page.wait_for_selector(".mitraseti-explorer canvas", timeout=120_000)
        page.wait_for_selector(WINDOW, timeout=60_000)
        first = window_of(page)
        assert (first["u0"], first["u1"]) == (0, 1 << 20)      # one coarse channel
        # opened without loading: the kernel's peak memory is far below the 4 GiB
        text = page.wait_for_selector("text=/peak kernel memory: \\d+ MiB/",
                                      timeout=60_000).inner_text()
        print(text)
        assert int(text.split(":")[1].split()[0]) < 1536
        times, window = [], first
        for _ in range(3):
            times.append(wheel_zoom_once(page, canvas, window))
            page.wait_for_timeout(300)
            window = window_of(page)
        assert window["u1"] - window["u0"] < first["u1"] - first["u0"]
        page.wait_for_timeout(800)
        page.screenshot(path=str(artifacts / "lab_big_zoomed.png"))
        print(f"4 GiB observation zoom-to-redraw (ms): {[round(t) for t in times]}")
