"""Full-resolution refinement of matched-filter hits (mitraseti.search.refine)."""
from __future__ import annotations

import numpy as np
import pytest

from mitraseti.search.hit import DEDOPPLER, MATCHED_FILTER, Hit
from mitraseti.search.refine import refine_hits

from search_helpers import inject, make_header, noise


def hit_at(header, channel: float, slope: float, width: int, source=MATCHED_FILTER) -> Hit:
    """A hit whose path starts at ``channel`` (t = 0) and moves ``slope`` channels/spectrum."""
    drift = slope * header.foff * 1e6 / header.dt_s
    return Hit(frequency_hz=header.channel_frequency_hz(channel), drift_rate=drift, snr=50.0,
               channel_index=int(round(channel)), boxcar_width=width, source=source,
               spectrum_count=header.n_spectra)


@pytest.mark.parametrize("slope", [-5.0, -2.4, 3.0, 6.6])
def test_refinement_recovers_a_smeared_track_from_a_coarse_guess(slope):
    header = make_header(n_spectra=16, nchans=2048)
    data = noise((16, 2048), seed=3)
    truth = 900.0
    inject(data, truth, slope, level=30.0, smear=True)
    width = max(2, int(round(abs(slope))))
    step = 1.0 / 15                                   # one full-resolution drift step
    guess = hit_at(header, truth + 3, slope + 2 * step, width)   # off by 3 channels, 2 steps
    refine_hits([guess], data, header)
    got_channel = (guess.frequency_hz / 1e6 - header.fch1) / header.foff
    got_slope = guess.drift_rate * header.dt_s / (header.foff * 1e6)
    assert abs(got_channel - truth) <= 1.0
    assert abs(got_slope - slope) <= step + 1e-9
    assert guess.channel_index == int(round(got_channel))


def test_channel_offset_maps_block_channels_to_file_channels():
    header = make_header(n_spectra=16, nchans=4096)
    block = noise((16, 1024), seed=4)
    inject(block, 300.0, 2.0, level=30.0, smear=True)      # block channel 300
    guess = hit_at(header, 2048 + 302.0, 2.0, 2)             # file channel, 2 off
    refine_hits([guess], block, header, channel_offset=2048)
    got_channel = (guess.frequency_hz / 1e6 - header.fch1) / header.foff
    assert abs(got_channel - (2048 + 300.0)) <= 1.0


def test_plain_tree_hits_and_width_one_are_left_alone():
    header = make_header(n_spectra=16, nchans=1024)
    data = noise((16, 1024), seed=5)
    inject(data, 500.0, 0.5, level=30.0)
    tree = hit_at(header, 503.0, 0.5, 1, source=DEDOPPLER)
    narrow = hit_at(header, 503.0, 0.5, 1)
    before = (tree.frequency_hz, narrow.frequency_hz)
    refine_hits([tree, narrow], data, header)
    assert (tree.frequency_hz, narrow.frequency_hz) == before


def test_paths_that_leave_the_band_are_not_chosen():
    header = make_header(n_spectra=16, nchans=256)
    data = noise((16, 256), seed=6)
    inject(data, 10.0, -0.5, level=30.0, smear=True)       # near the low edge
    guess = hit_at(header, 10.0, -0.5, 4)
    refine_hits([guess], data, header)
    got_channel = (guess.frequency_hz / 1e6 - header.fch1) / header.foff
    got_slope = guess.drift_rate * header.dt_s / (header.foff * 1e6)
    # every chosen path keeps its boxcar inside the band over all 16 spectra
    for t in (0, 15):
        centre = got_channel + got_slope * t
        assert np.rint(centre - 1.5) >= 0
