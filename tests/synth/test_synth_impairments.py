"""Dirty-receiver impairments, measured on the rendered arrays (not on the model's own
bookkeeping): bandpass shape, DC spikes, broadband RFI widths and noise, quantisation,
seeds, and the local S/N of a tone under a bandpass edge."""
import numpy as np
import pytest

from mitraseti import io
from mitraseti.synth import (BANDPASS_FAMILIES, Bandpass, BroadbandRFI, DCSpikes, Impairments,
                             NarrowbandSignal, NoiseModel, Quantizer, make_cadence, make_header,
                             make_labelled_observation, make_observation)

FLAT = NoiseModel(kind="none", mean=1.0)  # noise-free renders
DF = 2.7939677238464355


def _render(impairments, n_chans=4096, n_coarse=4, n_spectra=4, noise=FLAT, **kw):
    return make_observation(n_spectra=n_spectra, n_chans=n_chans, n_coarse_chan=n_coarse,
                            noise=noise, impairments=impairments, seed=0, **kw)


@pytest.mark.parametrize("edge", [0.33, 0.1])
def test_bandpass_edges_roll_off_and_flat_top(edge):
    nfpc, rolloff = 1024, 0.1
    obs = _render(Impairments(bandpass=Bandpass(edge_level=edge, rolloff=rolloff)))
    row = obs.data[0].astype(float)
    width = rolloff * nfpc  # roll-off, channels
    for k in range(4):
        block = row[k * nfpc:(k + 1) * nfpc]
        centre = block[nfpc // 2]
        assert centre == pytest.approx(1.0, abs=1e-6)
        assert block[0] / centre == pytest.approx(edge, rel=0.01)
        assert block[-1] / centre == pytest.approx(edge, rel=0.01)
        inner = block[int(width) + 1:nfpc - int(width) - 1]
        assert np.all(np.abs(inner - 1.0) < 1e-6)  # flat top
        edge_run = block[:int(width) + 1]
        assert np.all(np.diff(edge_run) >= 0)  # monotonic roll-off
        # halfway in decibels half-way through the roll-off (raised cosine in dB)
        k_half = int(np.argmin(np.abs(np.log(edge_run) - 0.5 * np.log(edge))))
        assert abs(k_half + 0.5 - 0.5 * width) <= 1.0
        np.testing.assert_allclose(block, block[::-1], rtol=1e-6)  # symmetric


def test_ripple_and_large_scale_slope_and_curvature():
    nfpc = 1024
    obs = _render(Impairments(bandpass=Bandpass(edge_level=0.5, rolloff=0.05, ripple=0.04,
                                                ripple_cycles=8)))
    flat = obs.data[0, 200:nfpc - 200].astype(float)
    assert flat.max() == pytest.approx(1.04, abs=2e-3) and flat.min() == pytest.approx(0.96, abs=2e-3)
    peaks = [k for k in range(1, flat.size - 1) if flat[k] > flat[k - 1] and flat[k] >= flat[k + 1]]
    assert np.all(np.abs(np.diff(peaks) - nfpc / 8) <= 1)  # 8 ripple periods per coarse channel

    obs = _render(Impairments(bandpass=Bandpass(edge_level=1.0, rolloff=0.1, slope=0.2,
                                                curvature=0.1)), n_chans=4097, n_coarse=1)
    row = obs.data[0].astype(float)
    assert row[0] == pytest.approx(1 - 0.2 + 0.1, rel=1e-5)
    assert row[2048] == pytest.approx(1.0, rel=1e-5)
    assert row[-1] == pytest.approx(1 + 0.2 + 0.1, rel=1e-5)


def test_bandpass_families_are_drawn_and_keep_their_edge_level():
    header = make_header(n_chans=2048, n_coarse_chan=2)
    rng = np.random.default_rng(4)
    drawn = [Bandpass.random(rng) for _ in range(12)]
    assert len({round(b.rolloff, 6) for b in drawn}) == 12
    for name in BANDPASS_FAMILIES:
        bp = Bandpass.random(np.random.default_rng(1), family=name)
        gain = bp.gain(header)
        coarse = gain[:1024] / bp.large_scale(2048)[:1024]
        assert coarse[0] / coarse[512] == pytest.approx(
            bp.edge_level * (1 + bp.ripple * np.cos(-np.pi * bp.ripple_cycles + bp.ripple_phase))
            / (1 + bp.ripple * np.cos(bp.ripple_phase)), rel=0.01)
    with pytest.raises(ValueError):
        Bandpass.random(rng, family="nope")
    # coarse-channel levels scatter by about coarse_scatter, the same for every file
    bp = Bandpass(edge_level=0.5, coarse_scatter=0.05, scatter_seed=3)
    wide = make_header(n_chans=256 * 512, n_coarse_chan=512)
    levels = bp.gain(wide)[128::256]
    assert np.std(levels) == pytest.approx(0.05, rel=0.15)
    cad = make_cadence([NarrowbandSignal(channel=100, snr=20)], n_chans=1024, n_coarse_chan=4,
                       noise=FLAT, seed=1, impairments=Impairments(bandpass=bp))
    rows = [o.data[0] for o in cad.observations]
    assert all(np.array_equal(r, rows[1]) for r in rows[1::2])  # OFF files: the same receiver
    np.testing.assert_array_equal(rows[0][200:], rows[1][200:])  # ON: the same, plus the tone


def test_dc_spikes_sit_on_the_dc_bins_in_units_of_the_local_mean():
    nfpc = 256
    imp = Impairments(bandpass=Bandpass(edge_level=0.3, rolloff=0.2),
                      dc_spikes=DCSpikes(amplitude=5.0, side_fraction=0.3))
    obs = _render(imp, n_chans=1024)
    row = obs.data[0].astype(float)
    local = obs.impairment_truth.gain  # noise-free: the local mean is the gain
    excess = row / local - 1.0
    assert set(np.flatnonzero(excess > 1e-5)) == {c + d for c in (128, 384, 640, 896) for d in (-1, 0, 1)}
    assert obs.impairment_truth.dc_channels == [128, 384, 640, 896]
    for c in range(nfpc // 2, 1024, nfpc):
        assert excess[c] == pytest.approx(5.0, rel=1e-5)
        assert excess[c - 1] == pytest.approx(1.5, rel=1e-5) and excess[c + 1] == pytest.approx(1.5, rel=1e-5)

    # with noise: mean (1 + a) x the neighbours, jitter varies it in time, variance raised
    noisy = _render(Impairments(dc_spikes=DCSpikes(amplitude=4.0, jitter=0.05)), n_chans=1024,
                    n_spectra=512, noise=NoiseModel(kind="chi2", dof=16))
    dc = noisy.data[:, 128::256].astype(float)
    side = noisy.data[:, 132:250].astype(float)
    assert dc.mean() / side.mean() == pytest.approx(5.0, rel=0.03)
    assert dc.std() / side.std() > np.sqrt(1 + 2 * 4.0) * 0.9


@pytest.mark.parametrize("shape", ["box", "gaussian", "tapered", "asymmetric"])
@pytest.mark.parametrize("width_hz,df_hz", [(500.0, DF), (12_000.0, DF), (1.0e6, 100.0)])
def test_broadband_fwhm_in_hz(shape, width_hz, df_hz):
    n_chans = 32768
    rfi = BroadbandRFI(channel=n_chans / 2, width_hz=width_hz, amplitude=3.0, shape=shape)
    obs = _render(Impairments(broadband=[rfi]), n_chans=n_chans, n_coarse=1, df_hz=df_hz)
    excess = obs.data[0].astype(float) - 1.0
    above = np.flatnonzero(excess >= 0.5 * excess.max())
    assert excess.max() == pytest.approx(3.0, rel=0.01)
    assert np.all(np.diff(above) == 1)  # one contiguous run
    assert above.size * df_hz == pytest.approx(width_hz, abs=2.5 * df_hz)
    record = obs.impairment_truth.rfi[0]
    nonzero = np.flatnonzero(excess > 0.01 * excess.max())
    assert record["channel_lo"] <= nonzero[0] and nonzero[-1] <= record["channel_hi"]


def test_asymmetric_edge_is_sharp_on_the_chosen_side():
    n_chans = 8192
    for skew in (1, -1):
        rfi = BroadbandRFI(channel=4096, width_hz=4000.0, amplitude=2.0, shape="asymmetric", skew=skew)
        excess = _render(Impairments(broadband=[rfi]), n_chans=n_chans, n_coarse=1).data[0] - 1.0
        on = np.flatnonzero(excess > 1e-3)
        k = int(np.argmax(excess))
        # foff < 0: the low-frequency side is the high channel side
        sharp_side = on[-1] if skew == 1 else on[0]
        assert abs(k - sharp_side) <= 1 and excess[k] > 1.9


def test_broadband_rfi_is_noise_like_and_time_behaviours_are_rendered():
    chi2 = NoiseModel(kind="chi2", dof=16)
    rfi = BroadbandRFI(channel=2048, width_hz=2000 * DF, amplitude=2.0, shape="box")
    obs = _render(Impairments(broadband=[rfi]), n_chans=4096, n_coarse=1, n_spectra=64, noise=chi2)
    inside = obs.data[:, 1300:2700].astype(float)
    outside = obs.data[:, 100:900].astype(float)
    assert inside.mean() / outside.mean() == pytest.approx(3.0, rel=0.02)
    assert inside.std() / outside.std() == pytest.approx(3.0, rel=0.03)  # radiometer: std x (1 + R/m)

    sigma = BroadbandRFI(channel=2048, width_hz=600 * DF, amplitude=10.0, unit="sigma")
    ex = _render(Impairments(broadband=[sigma]), n_chans=4096, n_coarse=1).data[0] - 1.0
    assert ex.max() == pytest.approx(10.0 * chi2.pixel_std, rel=1e-5)

    burst = BroadbandRFI(channel=1000, width_hz=900.0, amplitude=1.0, on_fraction=0.4)
    drift = BroadbandRFI(channel=3000, width_hz=900.0, amplitude=1.0, drift_rate=-1.0)
    varying = BroadbandRFI(channel=2000, width_hz=900.0, amplitude=1.0, modulation=0.5,
                           modulation_period_s=8 * obs.header.dt_s)
    obs = _render(Impairments(broadband=[burst, drift, varying]), n_chans=4096, n_coarse=1,
                  n_spectra=32)
    ex = obs.data.astype(float) - 1.0
    on = np.flatnonzero(ex[:, 1000] > 0.5)
    assert 0 < on.size < 32 and list(on) == obs.impairment_truth.rfi[0]["on_spectra"]
    centres = np.array([np.average(np.arange(2500, 3500), weights=r[2500:3500]) for r in ex])
    step = np.polyfit(np.arange(32), centres, 1)[0]  # channels per spectrum
    # foff < 0: a falling frequency moves to higher channels
    assert step == pytest.approx(1.0 * obs.header.dt_s / DF, rel=0.01)
    peak = ex[:, 2000]
    assert peak.max() == pytest.approx(1.5, rel=0.02) and peak.min() == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize("suffix", [".fil", ".h5"])
def test_quantised_data_are_uint8_integers_and_write_as_8_bit(tmp_path, suffix):
    imp = Impairments(bandpass=Bandpass(edge_level=0.2), dc_spikes=DCSpikes(amplitude=30.0),
                      broadband=[BroadbandRFI(channel=500, width_hz=2000.0, amplitude=20.0)],
                      quantize=Quantizer(target_mean=48.0))
    obs = _render(imp, n_chans=2048, n_coarse=2, n_spectra=8, noise=NoiseModel(kind="chi2", dof=16))
    x = obs.data
    assert x.dtype == np.float32 and obs.header.nbits == 8
    assert np.all(x == np.rint(x)) and x.min() >= 0 and x.max() == 255  # the RFI clips
    assert np.median(x) == pytest.approx(48.0, abs=1.0)
    header, data = io.read_observation(obs.write(tmp_path / f"q{suffix}"))
    assert header.nbits == 8
    np.testing.assert_array_equal(data, x)

    fixed = Quantizer(target_mean=100.0, target_std=10.0)
    y = _render(Impairments(quantize=fixed), n_chans=2048, n_spectra=16,
                noise=NoiseModel(kind="chi2", dof=64)).data.astype(float)
    assert np.median(y) == pytest.approx(100.0, abs=1.0)
    assert 1.4826 * np.median(np.abs(y - np.median(y))) == pytest.approx(10.0, rel=0.1)


def test_seeds_reproduce_and_the_clean_path_is_unchanged():
    header = make_header(n_chans=4096, n_coarse_chan=4)
    a = Impairments.random(np.random.default_rng(12), header)
    assert a == Impairments.random(np.random.default_rng(12), header)
    assert a != Impairments.random(np.random.default_rng(13), header)
    kw = dict(n_chans=4096, n_coarse_chan=4, signals=[NarrowbandSignal(channel=700.3, drift_rate=0.2)])
    o1 = make_observation(impairments=a, seed=3, **kw)
    o2 = make_observation(impairments=a, seed=3, **kw)
    assert o1.data.tobytes() == o2.data.tobytes()
    assert make_observation(impairments=a, seed=4, **kw).data.tobytes() != o1.data.tobytes()
    clean = make_observation(seed=3, **kw)
    assert make_observation(impairments=Impairments(), seed=3, **kw).data.tobytes() == clean.data.tobytes()
    # a bandpass alone is a pure gain on the very same noise and signal
    bp = make_observation(impairments=Impairments(bandpass=Bandpass()), seed=3, **kw)
    np.testing.assert_allclose(bp.data / bp.impairment_truth.gain, clean.data, rtol=1e-6)
    l1 = make_labelled_observation("NARROWBAND_DRIFTING", seed=5, impairments="random")
    l2 = make_labelled_observation("NARROWBAND_DRIFTING", seed=5, impairments="random")
    assert l1.data.tobytes() == l2.data.tobytes() and l1.impairments is not None


def _local_snr(data: np.ndarray, channel: int, half: int = 128, guard: int = 2) -> float:
    """(path sum - local level) / local robust std of the time-summed spectrum: a quadratic
    fitted over +-``half`` channels (the gain changes across them), the tone masked."""
    total = data.sum(axis=0).astype(float)
    k = np.arange(channel - half, channel + half + 1)
    k = k[np.abs(k - channel) > guard]
    coeff = np.polyfit(k - channel, total[k], 2)
    resid = total[k] - np.polyval(coeff, k - channel)
    level = np.polyval(coeff, 0.0) + np.median(resid)
    spread = 1.4826 * np.median(np.abs(resid - np.median(resid)))
    return (total[channel] - level) / spread


def test_tone_snr_under_a_one_third_gain_edge_equals_its_nominal_snr():
    nfpc, n_coarse, snr = 8192, 8, 25.0
    bandpass = Bandpass(edge_level=0.1, rolloff=0.25)
    gain = bandpass.coarse_response(nfpc)
    at_third = int(np.argmin(np.abs(gain[:nfpc // 2] - 1.0 / 3.0)))  # on the roll-off
    chans = [k * nfpc + c for k in range(n_coarse) for c in (at_third, nfpc - 1 - at_third)]
    signals = [NarrowbandSignal(channel=c, drift_rate=0.0, width=0.0, snr=snr) for c in chans]
    noise = NoiseModel(kind="chi2", dof=16)
    kw = dict(n_spectra=16, n_chans=nfpc * n_coarse, n_coarse_chan=n_coarse, noise=noise,
              signals=signals, seed=21)
    obs = make_observation(impairments=Impairments(bandpass=bandpass), **kw)
    assert gain[at_third] == pytest.approx(1 / 3, abs=0.01)
    assert all(t.local_gain == pytest.approx(1 / 3, abs=0.01) for t in obs.truth)
    assert all(t.snr == pytest.approx(snr) for t in obs.truth)
    measured = np.array([_local_snr(obs.data, c) for c in chans])
    # 16 tones, each measured to ~10 % (path noise 1/snr, robust std from 250 channels)
    assert measured.mean() == pytest.approx(snr, rel=0.08)
    assert np.all(np.abs(measured / snr - 1) < 0.5)
    # the same tones on the same noise without the bandpass measure the same
    flat = make_observation(**kw)
    flat_measured = np.array([_local_snr(flat.data, c) for c in chans])
    np.testing.assert_allclose(measured, flat_measured, rtol=0.15)
    # the tone's power excess is scaled by the gain like the noise
    excess = obs.data.sum(axis=0)[chans] - obs.data.sum(axis=0)[[c + 5 for c in chans]]
    expected = snr * np.sqrt(16) * noise.pixel_std / 3.0
    assert np.mean(excess) == pytest.approx(expected, rel=0.1)


def test_rfi_under_a_tone_is_reported_as_a_local_noise_factor():
    rfi = BroadbandRFI(channel=500, width_hz=300 * DF, amplitude=1.0)
    obs = make_observation(n_chans=1024, signals=[NarrowbandSignal(channel=500, snr=20),
                                                  NarrowbandSignal(channel=900, snr=20)],
                           impairments=Impairments(broadband=[rfi]), seed=2)
    assert obs.truth[0].local_noise_factor == pytest.approx(2.0, rel=1e-6)
    assert obs.truth[1].local_noise_factor == 1.0
