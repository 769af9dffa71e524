"""Where an injected signal lands, and what its snr means, measured on the data."""
import astropy.units as u
import numpy as np
import pytest

from mitraseti.synth import PRESETS, NarrowbandSignal, NoiseModel, make_observation

QUIET = NoiseModel(kind="gaussian", mean=0.0, std=1.0)


@pytest.mark.parametrize("foff_sign", [-1, 1])
@pytest.mark.parametrize("drift", [0.45, -0.3])
def test_argmax_follows_truth_track_for_both_foff_signs(foff_sign, drift):
    obs = PRESETS["gbt_fine"].make(foff_sign=foff_sign, noise=QUIET, seed=2, signals=[
        NarrowbandSignal(channel=500.3, drift_rate=drift, width=0.5, snr=200)])
    h, truth = obs.header, obs.truth[0]
    # frequency at t = 0 is the channel's centre frequency: fch1 + channel * foff
    assert truth.frequency_hz == pytest.approx((h.fch1 + 500.3 * h.foff) * 1e6, abs=1e-3)
    assert truth.drift_rate == drift and truth.channel_index == 500
    t = np.arange(h.n_spectra) * h.tsamp
    expected = ((truth.frequency_hz + drift * t) / 1e6 - h.fch1) / h.foff
    peaks = np.argmax(obs.data, axis=1)
    assert np.all(np.abs(peaks - expected) <= 1.0)
    # rising frequency moves towards higher channels only when foff > 0
    assert np.sign(peaks[-1] - peaks[0]) == np.sign(drift) * foff_sign


def test_quantities_and_floats_give_the_same_observation():
    h = PRESETS["voyager"].header()
    f0 = (h.fch1 + 200 * h.foff) * 1e6
    a = make_observation(seed=1, signals=[NarrowbandSignal(frequency=f0, drift_rate=0.25, width=2.0)])
    b = make_observation(seed=1, signals=[NarrowbandSignal(
        frequency=f0 / 1e6 * u.MHz, drift_rate=15.0 * u.Hz / u.min, width=2000 * u.mHz)])
    assert a.data.tobytes() == b.data.tobytes()
    with pytest.raises(ValueError, match="drift_rate"):
        NarrowbandSignal(channel=1, drift_rate=3 * u.s)


def _measured_snr(data, track):
    """turboSETI-style: (path sum - median) / robust std of the time-summed spectrum."""
    timesum = data.astype(np.float64).sum(axis=0)
    path = sum(float(data[i, c]) for i, c in enumerate(track) if 0 <= c < data.shape[1])
    med = np.median(timesum)
    std = 1.4826 * np.median(np.abs(timesum - med))
    return (path - med) / std


@pytest.mark.parametrize("drift,snr", [(0.0, 30.0), (0.9, 40.0), (-1.3, 25.0)])
def test_snr_is_the_path_sum_over_noise_of_the_time_summed_spectrum(drift, snr):
    """Includes smeared tracks (|drift| dt / df up to 8.5 channels): the snr counts only
    the channel on the track, so smearing is paid for with more total power."""
    obs = make_observation(n_chans=2048, noise=NoiseModel(kind="chi2", dof=32, mean=5.0), seed=4,
                           signals=[NarrowbandSignal(channel=600.2, drift_rate=drift, snr=snr)])
    track = np.floor(np.array(obs.truth[0].track_channels) + 0.5).astype(int)
    assert _measured_snr(obs.data, track) == pytest.approx(snr, abs=0.12 * snr)
    assert obs.truth[0].snr == pytest.approx(snr)


def test_level_is_total_power_per_spectrum():
    obs = make_observation(noise=NoiseModel(kind="none", mean=0.0), signals=[
        NarrowbandSignal(channel=300, drift_rate=-0.8, width=9.0, profile="sinc2", level=50.0)])
    assert np.allclose(obs.data.sum(axis=1), 50.0, rtol=1e-4)
    assert obs.truth[0].level == 50.0 and obs.truth[0].snr > 0


def test_signal_outside_the_band_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"signal 0 \(NarrowbandSignal\).*band"):
        make_observation(n_chans=64, signals=[NarrowbandSignal(channel=5000)])
