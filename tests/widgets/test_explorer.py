"""The explorer's Python side, driven without a browser: pan/zoom events, taps, de-drift."""
from __future__ import annotations

import math

import numpy as np
import pytest
from bokeh.events import RangesUpdate

from mitraseti.widgets import WaterfallExplorer, decimated_shape
from mitraseti.widgets.source import DisplayView

from widget_helpers import CountingObservation, drift_of, drifting_line, make_header


def fire_ranges_update(ex, x0, x1, y0=None, y1=None):
    """Deliver a RangesUpdate the way jupyter_bokeh does for a browser pan/zoom."""
    event = RangesUpdate(ex.plots.figure, x0=x0, x1=x1, y0=y0, y1=y1)
    ex.plots.figure.document.callbacks.trigger_event(event)


def column_freq(view: DisplayView, cc: int, u: float) -> float:
    return view.f_lo_mhz(cc) + u * view.df_mhz


@pytest.fixture(scope="module")
def big():
    """One 2^20-channel coarse channel (BL fine resolution), 8 spectra, one hot pixel."""
    h = make_header(nchans=1 << 20, n_spectra=8)
    data = np.random.default_rng(0).normal(10, 1, (8, 1 << 20)).astype(np.float32)
    hot_t, hot_c = 5, 700_001            # file channel; foff < 0 so display column differs
    data[hot_t, hot_c] = 500.0
    return h, data, hot_t, hot_c


def test_full_view_is_screen_sized_and_keeps_a_hot_pixel(big):
    h, data, hot_t, hot_c = big
    obs = CountingObservation(h, data)
    ex = WaterfallExplorer(obs, width=800, height=300, scale="linear")
    assert ex.image.shape == decimated_shape((8, 1 << 20), (300, 800))
    assert ex.image.shape[1] <= 800
    fc = math.ceil((1 << 20) / 800)
    hot_u = (1 << 20) - 1 - hot_c                   # display column (frequency rising)
    assert ex.image.max() == 500.0
    assert ex.image[hot_t, hot_u // fc] == 500.0
    src = ex.plots.image_source.data
    assert src["image"][0].shape == ex.image.shape
    assert src["dw"][0] == pytest.approx((1 << 20) * ex.view.df_mhz)


def test_zoom_event_reads_only_the_visible_window(big):
    h, data, hot_t, hot_c = big
    obs = CountingObservation(h, data)
    ex = WaterfallExplorer(obs, width=800, height=300)
    view = ex.view
    hot_u = (1 << 20) - 1 - hot_c
    u0, u1 = hot_u - 200, hot_u + 300               # 500 channels: fewer than 800 pixels
    obs.reads.clear()
    fire_ranges_update(ex, column_freq(view, 0, u0 - 0.5), column_freq(view, 0, u1 - 0.5),
                       0.0, 8 * h.tsamp)
    assert ex.window["u0"] == u0 and ex.window["u1"] == u1
    assert ex.image.shape == (8, 500)               # full resolution at this zoom
    # exactly the visible channels came from the file, in display (rising) order
    np.testing.assert_array_equal(ex.image, data[:, (1 << 20) - u1:(1 << 20) - u0][:, ::-1])
    assert ex.image[hot_t, 200] == 500.0
    assert len(obs.reads) == 1
    t0, t1, c0, c1 = obs.reads[0]
    assert (t1 - t0, c1 - c0) == (8, 500)
    # the bokeh image is placed where the window is
    src = ex.plots.image_source.data
    assert src["x"][0] == pytest.approx(column_freq(view, 0, u0 - 0.5))
    # zoom in time as well: only those spectra are read
    obs.reads.clear()
    fire_ranges_update(ex, column_freq(view, 0, u0 - 0.5), column_freq(view, 0, u1 - 0.5),
                       4 * h.tsamp, 6 * h.tsamp)
    assert obs.reads[0][:2] == (4, 6)
    assert ex.image.shape == (2, 500) and ex.image[1, 200] == 500.0


def test_setting_the_range_and_invoking_the_callback_matches_the_event(big):
    h, data, _, _ = big
    ex = WaterfallExplorer((h, data), width=400, height=100)
    f0, f1 = column_freq(ex.view, 0, 99.5), column_freq(ex.view, 0, 5099.5)
    ex.set_view(f0, f1)
    assert ex.window["u1"] - ex.window["u0"] == 5000
    assert ex.image.shape == decimated_shape((8, 5000), (100, 400))
    expected = data[:, (1 << 20) - 5100:(1 << 20) - 100][:, ::-1]
    fc = math.ceil(5000 / 400)
    assert ex.image[:, 0].tolist() == expected[:, :fc].max(axis=1).tolist()


def make_line_explorer(**kw):
    h = make_header(nchans=2048, n_spectra=32)
    data = drifting_line(h, start_channel=1500, channels_per_spectrum=-7)   # rising freq
    drift = drift_of(h, -7)
    hit = {"frequency_hz": h.channel_frequency_hz(1500), "drift_rate": drift, "snr": 40.0,
           "classification": "NARROWBAND_DRIFTING", "confidence": 0.8,
           "probabilities": {"NARROWBAND_DRIFTING": 0.8, "CHIRP": 0.15, "NOISE": 0.05}}
    other = {"frequency_hz": h.channel_frequency_hz(100), "drift_rate": 0.0, "snr": 12.0,
             "classification": "NOISE", "confidence": 0.6}
    return h, data, drift, WaterfallExplorer((h, data), hits=[other, hit], **kw)


def test_dedrift_slider_straightens_a_drifting_line():
    h, data, drift, ex = make_line_explorer(width=3000, height=100)
    assert drift > 0
    cols = np.nanargmax(ex.image, axis=1)
    assert len(set(cols.tolist())) == 32             # drifting: a new column every spectrum
    ex.dedrift_control.value = drift                 # as the user moves the slider
    assert ex.dedrift == pytest.approx(drift, abs=ex.dedrift_control.step)
    cols = np.nanargmax(ex.image, axis=1)
    assert len(set(cols.tolist())) == 1              # straight: one column for every row
    assert cols[0] == 2047 - 1500                    # at the line's t = 0 column
    # hit overlay follows: its drawn line becomes vertical
    hs = ex.plots.hits_source.data
    k = hs["index"].index(1)
    assert hs["x0"][k] == pytest.approx(hs["x1"][k], abs=abs(h.foff))


def test_tap_selects_a_hit_and_computes_its_stamps():
    h, data, drift, ex = make_line_explorer(width=600, height=100)
    hs = ex.plots.hits_source
    assert sorted(hs.data["index"]) == [0, 1]
    k = hs.data["index"].index(1)
    hs.selected.indices = [k]                        # what a Tap on the marker does
    assert ex.selected_hit["snr"] == 40.0
    st = ex.stamp
    assert st.raw.shape[0] == 32 and st.raw.shape == st.dedrifted.shape
    raw_cols = np.nanargmax(st.raw, axis=1)
    ded_cols = np.nanargmax(st.dedrifted, axis=1)
    assert np.all(np.diff(raw_cols) == 7)            # the line moves 7 columns per spectrum
    assert len(set(ded_cols.tolist())) == 1          # and is straight when de-drifted
    f_line = st.f_lo_mhz + (ded_cols[0] + 0.5) * st.df_mhz
    assert f_line == pytest.approx(h.channel_frequency_hz(1500) / 1e6, abs=abs(h.foff) / 2)
    assert st.drift_line_mhz[1] - st.drift_line_mhz[0] == pytest.approx(
        drift * 32 * h.tsamp / 1e6)
    probs = dict(zip(ex.plots.prob_source.data["label"], ex.plots.prob_source.data["p"]))
    assert probs["NARROWBAND_DRIFTING"] == 0.8 and probs["CHIRP"] == 0.15
    assert len(ex.plots.raw_source.data["image"]) == 1
    assert "NARROWBAND_DRIFTING" in ex.hit_info.value
    hs.selected.indices = []
    assert ex.selected_hit is None and ex.plots.raw_source.data["image"] == []


def test_controls_change_the_rendering():
    h, data, drift, ex = make_line_explorer(width=400, height=8)
    assert ex.image.shape == (8, 2048 // 6 + 1)
    max_img = ex.image.copy()
    ex.time_control.value = "mean"
    assert np.all(ex.image <= max_img + 1e-4) and ex.image.max() < max_img.max()
    ex.scale_control.value = "log"
    shown = ex.plots.image_source.data["image"][0]
    assert shown.max() < 3 and ex.plots.mapper.high == pytest.approx(shown.max())


def test_coarse_channels_and_errors():
    h = make_header(nchans=4 * 256, n_spectra=4, nfpc=256)
    data = np.zeros((4, 1024), dtype=np.float32)
    data[:, 256 * 2 + 10] = 7.0                      # a line in coarse channel 2
    hits = [{"frequency_hz": h.channel_frequency_hz(256 * 2 + 10), "coarse_channel": 2}]
    ex = WaterfallExplorer((h, data), hits=hits, width=300, height=10)
    assert len(ex.coarse_control.options) == 4
    assert ex.image.max() == 0.0 and ex.plots.hits_source.data["index"] == []
    ex.coarse_control.value = 2
    assert ex.image.max() == 7.0 and ex.plots.hits_source.data["index"] == [0]
    with pytest.raises(ValueError, match="coarse channel must be in 0..3"):
        ex.set_coarse_channel(9)
    with pytest.raises(TypeError, match="file path, an Observation"):
        WaterfallExplorer(42)


def test_a_huge_window_is_read_every_kth_spectrum(monkeypatch):
    """Past OVERVIEW_SAMPLES the overview reads every k-th spectrum (all its channels), so
    no render reads more than the budget; the status says so; a zoom goes back to every
    spectrum at full resolution."""
    from mitraseti.widgets import explorer as explorer_module

    n_t, n_c = 64, 4096
    h = make_header(nchans=n_c, n_spectra=n_t, foff_hz=1.0)
    data = np.random.default_rng(4).normal(10, 1, (n_t, n_c)).astype(np.float32)
    data[8, 1234] = 90.0             # in a read spectrum (step 8): must show
    data[9, 3000] = 95.0             # in a skipped spectrum: not read in the overview
    monkeypatch.setattr(explorer_module, "OVERVIEW_SAMPLES", n_t * n_c // 8)
    obs = CountingObservation(h, data)
    ex = WaterfallExplorer(obs, width=512, height=100, scale="linear")
    assert ex.window["spectra_step"] == 8
    assert sum((t1 - t0) * (c1 - c0) for t0, t1, c0, c1 in obs.reads) <= n_t * n_c // 8
    expected = data[::8].reshape(8, 512, n_c // 512).max(axis=2)    # 8 channels per pixel
    np.testing.assert_array_equal(ex.image, expected)
    assert "every 8th spectrum" in ex.status.value
    assert "data-spectra-step='8'" in ex.status.value
    obs.reads.clear()
    ex.set_view(column_freq(ex.view, 0, 999.5), column_freq(ex.view, 0, 1499.5))
    assert ex.window["spectra_step"] == 1 and ex.window["channels_per_pixel"] == 1
    u0, u1 = ex.window["u0"], ex.window["u1"]
    assert abs(u0 - 1000) <= 1 and abs(u1 - 1500) <= 1
    np.testing.assert_array_equal(ex.image, data[:, u0:u1])


def test_the_candidates_of_the_coarse_channel_are_listed():
    h = make_header(nchans=2048, n_spectra=8, foff_hz=1.0)
    data = np.zeros((8, 2048), np.float32)
    hits = [{"frequency_hz": h.channel_frequency_hz(100), "drift_rate": 0.1, "snr": 30.0,
             "classification": "NARROWBAND_DRIFTING"},
            {"frequency_hz": h.channel_frequency_hz(900), "drift_rate": 0.0, "snr": 50.0,
             "classification": "RFI_TERRESTRIAL"}]
    ex = WaterfallExplorer((h, data), hits=hits, width=300, height=100)
    table = ex.candidates.value
    assert "candidates-table" in table
    assert table.index("RFI_TERRESTRIAL") < table.index("NARROWBAND_DRIFTING")  # by S/N
