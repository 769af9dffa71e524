"""Generated observations written with mitraseti.io read back unchanged; presets match
the real instrument files they are named after."""

import numpy as np
import pytest

from mitraseti.synth import (PRESETS, ChirpSignal, NarrowbandSignal, make_cadence, make_header,
                             make_observation)

io = pytest.importorskip("mitraseti.io")
if not hasattr(io, "write_fil") or not hasattr(io, "read_observation"):
    pytest.skip("mitraseti.io writers not available yet", allow_module_level=True)



@pytest.mark.parametrize("suffix", [".fil", ".h5"])
def test_written_file_reads_back(tmp_path, suffix):
    obs = make_observation(n_chans=512, seed=9, source_name="SYNTH_W", signals=[
        NarrowbandSignal(channel=100.0, drift_rate=0.4, snr=30),
        ChirpSignal(channel=300.0, accel=0.002, snr=30)])
    path = obs.write(tmp_path / f"obs{suffix}")
    header, data = io.read_observation(path)
    assert data.shape == obs.data.shape
    np.testing.assert_array_equal(data, obs.data)
    for name in ("nchans", "n_spectra", "fch1", "foff", "tsamp", "tstart", "source_name", "nbits"):
        assert getattr(header, name) == pytest.approx(getattr(obs.header, name)), name


def test_cadence_writes_six_readable_files(tmp_path):
    cad = make_cadence([NarrowbandSignal(channel=100.0, drift_rate=0.1)], n_chans=256, seed=1)
    paths = cad.write(tmp_path, stem="c")
    assert [p.name for p in paths] == [f"c_{k}_{'ON' if k % 2 == 0 else 'OFF'}.fil" for k in range(6)]
    for p, o in zip(paths, cad.observations):
        header, data = io.read_observation(p)
        np.testing.assert_array_equal(data, o.data)
        assert header.source_name == o.header.source_name


def test_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.fil or \.h5"):
        make_observation(n_chans=16).write(tmp_path / "x.txt")


@pytest.mark.parametrize("name,preset", [
    ("gbt_DIAG_SGR_B2_finres_32x1024_setigen_sample.fil", "gbt_fine"),
    ("ilofar_TIC81831095_inj1_setigen.fil", "ilofar_like"),
])
def test_presets_use_the_real_instrument_grid(name, preset, real_file):
    header, _ = io.read_observation(real_file(name))
    p = PRESETS[preset]
    assert p.df_hz == pytest.approx(abs(header.foff) * 1e6, rel=1e-9)
    assert p.dt_s == pytest.approx(header.tsamp, rel=1e-9)
    assert p.fch1_mhz == pytest.approx(header.fch1, abs=1e-9)
    assert p.foff_sign == int(np.sign(header.foff))


def test_make_header_can_leave_the_channelisation_to_the_reader():
    assert make_header(n_chans=64, n_coarse_chan=None).nfpc == 0
    assert make_header(n_chans=64, n_coarse_chan=4).nfpc == 16
    with pytest.raises(ValueError, match="n_coarse_chan"):
        make_header(n_chans=64, n_coarse_chan=5)
