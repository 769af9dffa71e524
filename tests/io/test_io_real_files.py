"""Every real file in shared/data/real reads with the header values of its SOURCES.md table."""
import numpy as np
import pytest

from mitraseti.io import describe, frequencies_hz, open_observation, read_observation

# file, fch1 MHz, foff MHz, nchans, tsamp s, nbits, nifs, n_spectra, source, telescope_id
# (values copied from the summary table of shared/data/real/SOURCES.md)
TABLE = [
    ("gbt_DIAG_SGR_B2_finres_32x1024_setigen_sample.fil", 6663.99999987, -1.39698e-06, 1024,
     1.431656, 32, 1, 32, "DIAG_SGR_B2", 6),
    ("gbt_DIAG_SGR_B2_finres_64x1024_setigen_nbtest.fil", 6663.99999987, -1.39698e-06, 1024,
     1.431656, 32, 1, 64, "DIAG_SGR_B2", 6),
    ("ilofar_TIC81831095_inj1_setigen.fil", 153.00024946, 2.98023e-06, 168, 0.671089, 32, 1,
     1341, "TICObj", -1),
    ("ilofar_TIC81831095_inj1_setigen.h5", 153.00024946, 2.98023e-06, 168, 0.671089, 32, 1,
     1341, "TICObj", -1),
    ("ilofar_TIC81831095_inj10_setigen.fil", 153.00024946, 2.98023e-06, 168, 0.671089, 32, 1,
     1341, "TICObj", -1),
    ("askap_ics_frb_dm475_your_28.fil", 1465.0, -1.0, 336, 0.00126647, 8, 1, 5120, "src1", 7),
    ("askap_ics_10samp_your_small.fil", 1465.0, -1.0, 336, 0.00126647, 8, 1, 10, "src1", 6),
    ("frb121102_burst_dm565_burstfit_tcand.fil", 1774.53125, -12.5, 64, 8.192e-05, 8, 1, 48828,
     "C0531+33", 6),
    ("parkes_crab_8bit_1_sigpyproc3.fil", 4030.0, -4.0, 832, 0.000512, 8, 1, 4096,
     "J0534+2200", 4),
    ("parkes_crab_8bit_2_sigpyproc3.fil", 4030.0, -4.0, 832, 0.000512, 8, 1, 4096,
     "J0534+2200", 4),
    ("parkes_crab_4bit_sigpyproc3.fil", 4030.0, -4.0, 832, 0.000512, 4, 1, 4096,
     "J0534+2200", 4),
    ("parkes_crab_2bit_sigpyproc3.fil", 4030.0, -4.0, 832, 0.000512, 2, 1, 4096,
     "J0534+2200", 4),
    ("parkes_crab_1bit_sigpyproc3.fil", 4030.0, -4.0, 832, 0.000512, 1, 1, 4096,
     "J0534+2200", 4),
    ("ata_w3oh_2x128_bf2fb_test2.fil", 6607.9808, 0.8192, 128, 5.0, 32, 1, 2, "w3oh", 9),
    ("SYNTHETIC_fakepsr_P250ms_DM30_2bit_sigpyproc3_tutorial.fil", 1510.0, -1.09, 64, 0.00032,
     2, 1, 187520, "P: 250.000000000000 ms, DM: 30.000", 0),
    ("SYNTHETIC_jess_fake.fil", 1400.0, 1.0, 32, 0.000256, 8, 1, 512, "fake", 6),
]


def test_table_covers_every_real_file(real_data_dir):
    on_disk = {p.name for p in real_data_dir.iterdir() if p.suffix in (".fil", ".h5")}
    assert on_disk == {row[0] for row in TABLE}


@pytest.mark.parametrize("row", TABLE, ids=[r[0] for r in TABLE])
def test_real_file_header_and_shape(real_data_dir, row):
    name, fch1, foff, nchans, tsamp, nbits, nifs, n_spectra, source, telescope_id = row
    header, data = read_observation(real_data_dir / name)
    assert header.fch1 == pytest.approx(fch1, rel=1e-10, abs=1e-8)
    assert header.foff == pytest.approx(foff, rel=1e-5)
    assert header.tsamp == pytest.approx(tsamp, rel=1e-5)
    assert (header.nchans, header.nbits, header.nifs) == (nchans, nbits, nifs)
    assert header.n_spectra == n_spectra
    assert header.source_name.strip() == source
    assert header.telescope_id == telescope_id
    assert data.shape == (n_spectra, nchans) and data.dtype == np.float32
    assert np.isfinite(data).all() and data.std() > 0


def test_ilofar_h5_and_fil_hold_identical_arrays(real_data_dir):
    h_fil, fil = read_observation(real_data_dir / "ilofar_TIC81831095_inj1_setigen.fil")
    h_h5, h5 = read_observation(real_data_dir / "ilofar_TIC81831095_inj1_setigen.h5")
    assert np.array_equal(fil, h5)
    # BL stores decimal hours / degrees in .h5, SIGPROC packed hhmmss.s in .fil
    assert h_h5.src_raj == pytest.approx(h_fil.src_raj, abs=1e-6)
    assert h_h5.src_dej == pytest.approx(h_fil.src_dej, abs=1e-6)
    assert h_h5.tstart == h_fil.tstart and h_h5.barycentric == h_fil.barycentric == 1


def test_ilofar_h5_mask_is_exposed_lazily(real_data_dir):
    with open_observation(real_data_dir / "ilofar_TIC81831095_inj1_setigen.h5") as obs:
        assert obs.mask is not None and obs.mask.shape == (1341, 1, 168)
        m = obs.read_mask(0, 10, 0, 168)
        assert m.shape == (10, 168) and m.dtype == bool
    with open_observation(real_data_dir / "SYNTHETIC_jess_fake.fil") as obs:
        assert obs.mask is None and obs.read_mask() is None


@pytest.mark.parametrize("nbits, min_corr", [(1, 0.75), (2, 0.9), (4, 0.97)])
def test_parkes_sub_byte_files_correlate_with_8bit(real_data_dir, nbits, min_corr):
    _, ref = read_observation(real_data_dir / "parkes_crab_8bit_1_sigpyproc3.fil")
    _, low = read_observation(real_data_dir / f"parkes_crab_{nbits}bit_sigpyproc3.fil")
    assert low.max() <= 2 ** nbits - 1 and low.min() >= 0
    assert np.corrcoef(low.ravel(), ref.ravel())[0, 1] > min_corr


def test_ata_two_spectra_file_reads(real_data_dir):
    with open_observation(real_data_dir / "ata_w3oh_2x128_bf2fb_test2.fil") as obs:
        data = obs.coarse_channel(0)
        assert obs.n_coarse_channels == 1 and data.shape == (2, 128)
        assert obs.frequencies_hz()[0] == pytest.approx(6607.9808e6)
        assert obs.frequencies_hz()[1] > obs.frequencies_hz()[0]  # increasing band
        # channel 0 and channels 95-98 are bright (SOURCES.md)
        median = np.median(data)
        assert data[:, 0].min() > median and data[:, 95:99].min() > median


def test_askap_ten_sample_file_is_the_start_of_the_long_one(real_data_dir):
    _, small = read_observation(real_data_dir / "askap_ics_10samp_your_small.fil")
    _, big = read_observation(real_data_dir / "askap_ics_frb_dm475_your_28.fil")
    assert small.shape == (10, 336)
    assert np.array_equal(small, big[:10])


def test_coarse_channel_iteration_on_real_data_matches_full_read(real_data_dir):
    path = real_data_dir / "parkes_crab_2bit_sigpyproc3.fil"
    _, full = read_observation(path)
    with open_observation(path, n_coarse_chan=8) as obs:
        assert (obs.n_coarse_channels, obs.nfpc) == (8, 104)
        parts = [block for _, block in obs.iter_coarse_channels()]
        assert np.array_equal(np.concatenate(parts, axis=1), full)
        assert np.array_equal(obs.read(100, 107, 3, 500), full[100:107, 3:500])


def test_frequencies_and_describe_on_real_header(real_data_dir):
    with open_observation(real_data_dir / "parkes_crab_8bit_1_sigpyproc3.fil") as obs:
        freqs = obs.frequencies_hz()
        text = describe(obs.header)
    # 832 channels of -4 MHz from 4030 MHz: the last one is at 4030 - 4 * 831 = 706 MHz
    assert freqs.shape == (832,) and freqs[0] == 4030e6 and freqs[-1] == 706e6
    assert np.all(np.diff(freqs) == -4e6)
    assert np.array_equal(frequencies_hz(obs.header, 10, 12), [3990e6, 3986e6])
    assert "J0534+2200" in text and "Parkes" in text and "706.000000 .. 4030.000000" in text
    assert "4096 spectra" in text
