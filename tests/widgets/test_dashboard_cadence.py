"""The dashboard's cadence upload: ON/OFF defaults from the file order, the order sent to
the API, and a cadence job submitted from the Upload tab whose job page shows the events
and one stacked-waterfall picture per event (against a real REST service, no browser)."""
from __future__ import annotations

import io
import os
import time
import zipfile

import pytest

from mitraseti.dashboard import Dashboard
from mitraseti.dashboard import cadence as C
from mitraseti.dashboard import format as fmt
from mitraseti.synth import NarrowbandSignal, NoiseModel, make_cadence

from live_service import LiveService


def test_default_roles_from_names_sources_or_order():
    assert C.default_roles(["a_ON.fil", "a_OFF.fil", "b_on.h5", "b_off.h5"]) == \
        ["ON", "OFF", "ON", "OFF"]
    # tags win over position, whatever the order the files were chosen in
    assert C.default_roles(["x_OFF.fil", "y_ON.fil", "z_ON.fil", "w_OFF.fil"]) == \
        ["OFF", "ON", "ON", "OFF"]
    # "on" inside a word is not a tag: falls back to the header source names
    names = ["voyager.fil", "moon.fil", "onyx.fil", "station.fil"]
    assert [C.role_hint(n) for n in names] == [None] * 4
    assert C.default_roles(names, ["HIP1", "HIP7", "HIP1", "HIP9"]) == \
        ["ON", "OFF", "ON", "OFF"]
    assert C.default_roles(names, ["HIP1", "HIP1", "HIP1", "HIP9"]) == \
        ["ON", "OFF", "ON", "OFF"]                        # 3 vs 1: not a cadence -> order
    assert C.default_roles([f"f{i}.fil" for i in range(6)]) == ["ON", "OFF"] * 3


def test_cadence_order_interleaves_and_checks_counts():
    assert C.cadence_order(["ON", "OFF", "ON", "OFF"]) == [0, 1, 2, 3]
    assert C.cadence_order(["ON", "ON", "OFF", "ON", "OFF", "OFF"]) == [0, 2, 1, 4, 3, 5]
    for bad in (["ON", "OFF"], ["ON", "ON", "OFF"], ["OFF", "OFF", "OFF", "ON"]):
        with pytest.raises(ValueError, match="as many OFF files as ON files"):
            C.cadence_order(bad)


def test_observing_order_uses_start_times_when_known(tmp_path):
    late, early = C.CadenceFile(tmp_path / "b.fil", 2.0), C.CadenceFile(tmp_path / "a.fil", 1.0)
    assert C.observing_order([late, early]) == [early, late]
    unknown = C.CadenceFile(tmp_path / "c.fil")
    assert C.observing_order([late, unknown, early]) == [late, unknown, early]


def test_event_pngs_and_events_table():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("event_0001.png", b"\x89PNGone")
        zf.writestr("event_0000.png", b"\x89PNGzero")
        zf.writestr("readme.txt", b"x")
    assert C.event_pngs(buf.getvalue()) == [("event_0001.png", b"\x89PNGone"),
                                             ("event_0000.png", b"\x89PNGzero")]
    html = fmt.events_html([{"event_id": 3, "frequency_hz": 8421e6, "drift_rate": 0.1,
                             "classification": "CANDIDATE_ET", "filter_level": 3,
                             "on_hits": [{"snr": 20.0}, None, {"snr": 12.5}],
                             "rfi_source": "<b>"}])
    assert "20.0 / – / 12.5" in html and "8421.000000" in html and "&lt;b&gt;" in html
    assert "no events" in fmt.events_html([])


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    old = os.environ.get("MITRASETI_KERNEL_POOL_SIZE")
    os.environ["MITRASETI_KERNEL_POOL_SIZE"] = "0"       # no warm spares: less CPU
    try:
        svc = LiveService(tmp_path_factory.mktemp("dashboard-cadence")).start()
    finally:
        if old is None:
            os.environ.pop("MITRASETI_KERNEL_POOL_SIZE")
        else:
            os.environ["MITRASETI_KERNEL_POOL_SIZE"] = old
    svc.api_key = svc.create_user("cad-user")
    yield svc
    svc.stop()


def small_cadence(folder, stem):
    cad = make_cadence([NarrowbandSignal(channel=150.0, drift_rate=0.1, snr=60.0, width=2.0),
                        NarrowbandSignal(channel=600.0, drift_rate=-0.05, snr=60.0,
                                         width=2.0)],
                       presence=["on", "all"], seed=4, n_spectra=16, n_chans=1024,
                       noise=NoiseModel(kind="chi2", dof=32))
    return cad.write(folder, stem=stem)


def test_cadence_upload_and_job_page_with_stacked_waterfalls(service, tmp_path):
    paths = small_cadence(tmp_path / "files", "dash")
    d = Dashboard(api_url=service.url, credential=service.api_key, refresh_s=3600,
                  cache_dir=str(tmp_path / "cache"))
    try:
        panel = d.cadence_panel
        assert panel in d.upload_panel.children
        panel.paths.value = "\n".join(str(p) for p in paths[::-1])   # given in any order
        assert [f.name for f in panel.files] == [p.name for p in paths]   # by start time
        assert panel.roles == ["ON", "OFF"] * 3
        assert "sent as: ON dash_0_ON.fil, OFF dash_1_OFF.fil" in panel.order.value
        panel.role_boxes[1].value = "ON"                       # a wrong assignment ...
        assert "as many OFF files as ON files" in panel.order.value
        assert panel.submit() is None and "cadence upload failed" in d.message.value
        panel.role_boxes[1].value = "OFF"                      # ... put right again
        d.max_drift.value = 1.0
        job = panel.submit()
        assert job is not None, d.message.value
        assert d.upload_progress.value == 1.0 and d.tabs.selected_index == 1
        done = d.session.job(job["job_id"])
        assert [k.rsplit("/", 1)[1] for k in done["cadence"]] == [p.name for p in paths]
        deadline = time.monotonic() + 240
        page = d.open_job(job["job_id"])
        while not page.finished and time.monotonic() < deadline:
            time.sleep(0.5)
            page.refresh()
        assert page.job["status"] == "complete", page.job.get("error")
        assert page.events_section.layout.display is None
        assert page.file_section.layout.display == "none"
        assert "events-table" in page.events.value and "CANDIDATE_ET" in page.events.value
        images = [c.children[1] for c in page.event_images.children]
        assert len(images) == page.job["results"]["events"] == 1
        assert images[0].value[:8] == b"\x89PNG\r\n\x1a\n"
        assert "cadence of 6 files" in page.header.value
        links = d.session.download_links(job["job_id"])
        assert {"events", "events_png", "json", "csv", "notebook"} <= set(links)
        assert links["events"]["url"].startswith("data:text/csv;base64,")
    finally:
        d.close()


def test_cadence_picked_in_the_browser_is_sent_by_the_browser(service, tmp_path):
    """Files picked in the browser: ordered by name, roles from the names; submitting plans
    one upload per file and asks the browser to send them; once it has (here requests
    plays the browser's PUTs, against the real API), one cadence job starts."""
    import requests

    paths = small_cadence(tmp_path / "files", "pick")
    d = Dashboard(api_url=service.url, credential=service.api_key, refresh_s=3600,
                  cache_dir=str(tmp_path / "cache"))
    try:
        panel = d.cadence_panel
        panel.picker.set_state({"files": [{"name": p.name, "size": p.stat().st_size}
                                          for p in paths[::-1]], "state": "chosen"})
        assert [f.name for f in panel.files] == [p.name for p in paths]      # by name
        assert panel.roles == ["ON", "OFF"] * 3
        assert panel.submit() is None, d.message.value                     # the browser's turn
        assert panel.picker.state == "uploading"
        etags = []
        for plan, path in zip(panel._plans, paths):
            content, tags = path.read_bytes(), {}
            for piece in plan["pieces"]:
                resp = requests.put(piece["url"], timeout=30,
                                    data=content[piece["offset"]:piece["offset"]
                                                 + piece["length"]])
                assert resp.ok, resp.text
                tags[str(piece["partNumber"])] = resp.headers.get("ETag", "")
            etags.append(tags)
        job = panel._sent(etags)
        assert job is not None, d.message.value
        assert panel.picker.state == "done"
        done = d.session.job(job["job_id"])
        assert [k.rsplit("/", 1)[1] for k in done["cadence"]] == [p.name for p in paths]
    finally:
        d.close()
