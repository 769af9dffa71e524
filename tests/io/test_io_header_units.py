"""ObservationHeader owns the Hz/s <-> channels-per-spectrum conversion."""
import numpy as np
import pytest

from mitraseti.io import ObservationHeader, frequencies_hz


@pytest.mark.parametrize("foff_mhz", [-2.7939677e-6, 2.7939677e-6, -1e-6])
def test_channels_per_spectrum_follows_the_frequency_axis(foff_mhz):
    h = ObservationHeader(nchans=4096, fch1=8400.0, foff=foff_mhz, tsamp=18.253611,
                          n_spectra=16, nfpc=4096, tstart=60000.0)
    freqs = frequencies_hz(h)
    for drift in (0.25, -0.25, 0.0):
        cps = h.channels_per_spectrum(drift)
        # moving cps channels per spectrum for 10 spectra changes the frequency by
        # drift * 10 dt (interpolated on the file's own frequency axis)
        moved = np.interp(2000 + 10 * cps, np.arange(h.nchans), freqs) - freqs[2000]
        assert moved == pytest.approx(drift * 10 * h.tsamp, abs=1e-4)
        assert h.drift_rate_for(cps) == pytest.approx(drift, abs=1e-12)


def test_sign_with_descending_channels():
    h = ObservationHeader(nchans=64, fch1=1500.0, foff=-1e-6, tsamp=1.0, n_spectra=8,
                          nfpc=64, tstart=60000.0)          # 1 Hz channels, 1 s spectra
    assert h.channels_per_spectrum(3.0) == pytest.approx(-3.0)   # rising: lower channels
    assert h.drift_rate_for(-3.0) == pytest.approx(3.0)
