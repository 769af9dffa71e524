"""The cadence event PNG (mitraseti.signals.cadence_plot), drawn with the export rasteriser:
one panel per file in time order, frequency increasing to the right, the signal where the
drift path says, the drift line on it."""
from __future__ import annotations

import numpy as np
from matplotlib.image import imread
from PIL import Image

from mitraseti.search.hit import Hit
from mitraseti.signals.cadence import CadenceEvent, CadenceFile
from mitraseti.signals.cadence_plot import plot_event
from mitraseti.synth import NarrowbandSignal, NoiseModel, make_cadence

GRID = dict(n_spectra=16, n_chans=1024, df_hz=2.7939677238464355, dt_s=18.253611008,
            fch1_mhz=8421.0, noise=NoiseModel(kind="chi2", dof=32))
DRIFT = -0.3   # Hz/s


def _event_png(tmp_path):
    cad = make_cadence([NarrowbandSignal(channel=600.0, drift_rate=DRIFT, snr=80.0)],
                       presence=["on"], seed=3, **GRID)
    files = [CadenceFile(header=o.header, hits=[], name=f"f{k}", data=o.data)
             for k, o in enumerate(cad.observations)]
    truth = cad.observations[0].truth[0]
    hit = Hit(frequency_hz=truth.frequency_hz, drift_rate=truth.drift_rate, snr=truth.snr,
              channel_index=truth.channel_index, classification="CANDIDATE_ET")
    path = plot_event(CadenceEvent(event_id=7, file_index=0, hit=hit), files,
                      tmp_path / "ev.png")
    return cad, hit, path


def test_event_png_panels_follow_the_drift(tmp_path):
    cad, hit, path = _event_png(tmp_path)
    rgb = np.rint(imread(path)[..., :3] * 255).astype(int)
    with Image.open(path) as im:
        meta = im.text
    assert "event 7" in meta["Title"] and rgb.shape[1] == 480
    x_lo, x_hi = (float(v) for v in meta["x_range_hz"].split(","))
    boxes = [tuple(int(v) for v in b.split(",")) for b in meta["panels_px"].split(";")]
    assert len(boxes) == 6 and all(b[1] > a[3] for a, b in zip(boxes, boxes[1:]))  # in order
    t_first = cad.observations[0].header.tstart
    for k, (left, top, right, bottom) in enumerate(boxes):
        h = cad.observations[k].header
        panel = rgb[top:bottom, left:right]
        # red at 60 % over white or any viridis colour; viridis alone is never this red
        red = panel[..., 0] - panel[..., 1:].max(axis=-1) > 80
        # the drift line crosses every panel, where drift * t says, t growing upwards
        ys, xs = np.nonzero(red)
        t_start = (h.tstart - t_first) * 86400.0
        t = t_start + (1 - (ys + 0.5) / (bottom - top)) * h.obs_length_s
        x_path = (hit.drift_rate * t - x_lo) / (x_hi - x_lo) * (right - left)
        assert len(ys) > (bottom - top) // 3 and np.abs(xs + 0.5 - x_path).max() <= 1.5
        if k % 2 == 0:      # ON: the brightest pixel of each spectrum is on the path
            n_t = h.n_spectra
            for i in (0, n_t - 1):
                y = int((n_t - i - 0.5) / n_t * (bottom - top))
                t_i = (h.tstart - t_first) * 86400.0 + (i + 0.5) * h.dt_s
                x_exp = (hit.drift_rate * t_i - x_lo) / (x_hi - x_lo) * (right - left)
                # viridis green grows with the value; skip white (no data) and the line
                white = (panel[y] == 255).all(axis=-1)
                brightness = panel[y, :, 1] * ~red[y] * ~white
                assert abs(np.argmax(brightness) - x_exp) <= 4
