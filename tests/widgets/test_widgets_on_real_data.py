"""The explorer on real telescope files (I-LOFAR noise with an injected drifting tone)."""
from __future__ import annotations

import numpy as np
import pytest

from mitraseti.widgets import WaterfallExplorer

# SOURCES.md: one tone starting at channel 56 (positive foff) drifting at +2.71 Hz/s,
# in band for about 183 spectra; background sigma ~117 against a peak of ~267.
TONE_START_CHANNEL = 56
TONE_DRIFT = 2.7098


def mode_count(values: np.ndarray) -> tuple[int, int]:
    vals, counts = np.unique(values, return_counts=True)
    k = int(np.argmax(counts))
    return int(vals[k]), int(counts[k])


@pytest.mark.parametrize("name", ["ilofar_TIC81831095_inj1_setigen.fil",
                                  "ilofar_TIC81831095_inj1_setigen.h5"])
def test_dedrift_straightens_the_injected_tone(real_data, name):
    ex = WaterfallExplorer(real_data / name, width=400, height=20, time_reduce="mean")
    try:
        assert ex.view.nfpc == 168 and ex.view.n_spectra == 1341
        v = ex.view
        ex.set_view(v.f_lo_mhz(0) - v.df_mhz / 2, v.f_lo_mhz(0) + 167.5 * v.df_mhz,
                    0.0, 180 * v.dt_s)           # the spectra where the tone is in band
        assert ex.window["t1"] == 180 and ex.image.shape == (20, 168)
        _, straight_before = mode_count(np.nanargmax(ex.image, axis=1))
        ex.dedrift_control.value = TONE_DRIFT
        column, straight_after = mode_count(np.nanargmax(ex.image, axis=1))
        assert column == TONE_START_CHANNEL
        assert straight_after >= 15 and straight_before <= 5
    finally:
        ex.close()
