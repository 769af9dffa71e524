"""RFI band table and path matching (SIGNALS.md: precedence, narrowest band, path crossing)."""
import pytest

from mitraseti.signals.rfi import ENV_VAR, RfiBandError, RfiBands, read_band_file

MHZ = 1e6


@pytest.fixture()
def bands(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.mitraseti/rfi_bands.toml
    return RfiBands.load()


def test_shipped_table_has_every_signals_md_band_with_its_allocation(bands):
    names = {b.name: b for b in bands.bands}
    for n in ["GPS L1", "GPS L2", "GPS L5", "GLONASS L1", "GLONASS L2", "Galileo E6",
              "BeiDou B1", "Iridium", "Inmarsat / MSS", "Orbcomm / NOAA APT", "SiriusXM",
              "C-band GEO", "Ku-band GEO / Starlink", "FM broadcast", "DTV",
              "ADS-B 1090", "Aeronautical DME/TACAN", "L-band air-surveillance radar",
              "WiFi 2.4 GHz", "WiFi 5 GHz", "S-band weather radar", "C-band weather radar"]:
        assert n in names, n
        assert names[n].allocation, f"{n} has no allocation source"
    assert names["GPS L1"].label == "RFI_SATELLITE"
    assert names["FM broadcast"].label == "RFI_TERRESTRIAL"
    assert (names["GPS L1"].low_mhz, names["GPS L1"].high_mhz) == (1563.42, 1587.42)


def test_inside_and_outside(bands):
    assert bands.match_path(1575.42 * MHZ, 0.0, 300.0).name == "GPS L1"
    assert bands.match_path(1420.4 * MHZ, 0.5, 300.0) is None  # protected HI line


def test_narrowest_band_names_the_source(bands):
    # ADS-B 1089-1091 lies inside DME/TACAN 960-1215 (both terrestrial)
    assert bands.match_path(1090.0 * MHZ, 0.0, 300.0).name == "ADS-B 1090"
    assert bands.match_path(1000.0 * MHZ, 0.0, 300.0).name == "Aeronautical DME/TACAN"
    # GPS L2 1215.6-1239.6 and GLONASS L2 1237.8-1256.8 overlap: GLONASS L2 is narrower
    assert bands.match_path(1238.5 * MHZ, 0.0, 300.0).name == "GLONASS L2"


def test_satellite_takes_precedence_over_terrestrial(bands):
    # 1245 MHz: GLONASS L2 (satellite, 19 MHz) and L-band radar (terrestrial, 110 MHz)
    b = bands.match_path(1245.0 * MHZ, 0.0, 300.0)
    assert (b.name, b.label) == ("GLONASS L2", "RFI_SATELLITE")
    # C-band weather radar 5600-5650 sits inside WiFi 5 GHz: narrowest terrestrial wins
    assert bands.match_path(5620.0 * MHZ, 0.0, 300.0).name == "C-band weather radar"


def test_path_crossing_into_a_band_counts(bands):
    # starts 100 Hz below GPS L1's low edge and drifts up 1 Hz/s for 300 s: crosses in
    f0 = 1563.42 * MHZ - 100.0
    assert bands.match_path(f0, 1.0, 300.0).name == "GPS L1"
    # the same start drifting down never enters
    assert bands.match_path(f0, -1.0, 300.0) is None
    # a stationary signal 100 Hz outside, 300 Hz wide, overlaps through its bandwidth
    assert bands.match_path(f0, 0.0, 300.0, bandwidth_hz=300.0).name == "GPS L1"


def test_user_band_from_env_toml_and_csv(monkeypatch, tmp_path):
    toml = tmp_path / "mine.toml"
    toml.write_text('[[band]]\nname = "Site radar"\nkind = "terrestrial"\n'
                    'low_mhz = 1420.0\nhigh_mhz = 1420.2\nallocation = "site survey"\n')
    csv = tmp_path / "more.csv"
    csv.write_text("name,kind,low_mhz,high_mhz,allocation\n"
                   "Local sat,satellite,1430.0,1431.0,test\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(ENV_VAR, f"{toml}:{csv}")
    bands = RfiBands.load()
    assert bands.match_path(1420.1 * MHZ, 0.0, 300.0).name == "Site radar"
    assert bands.match_path(1430.5 * MHZ, 0.0, 300.0).label == "RFI_SATELLITE"
    assert len(bands) == len(RfiBands.default()) + 2


def test_user_band_from_home_file(monkeypatch, tmp_path):
    (tmp_path / ".mitraseti").mkdir()
    (tmp_path / ".mitraseti" / "rfi_bands.toml").write_text(
        '[[band]]\nname = "Home band"\nkind = "satellite"\nlow_mhz = 1400.0\n'
        'high_mhz = 1400.5\n')
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert RfiBands.load().match_path(1400.2 * MHZ, 0.0, 10.0).name == "Home band"


@pytest.mark.parametrize("text, needle", [
    ('[[band]]\nname = "x"\nkind = "cosmic"\nlow_mhz = 1.0\nhigh_mhz = 2.0\n', "kind"),
    ('[[band]]\nname = "x"\nkind = "satellite"\nlow_mhz = 3.0\nhigh_mhz = 2.0\n', "low_mhz"),
    ('[[band]]\nname = "x"\nkind = "satellite"\n', "low_mhz"),
])
def test_malformed_user_band_names_file_and_field(tmp_path, text, needle):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(RfiBandError, match=needle) as e:
        read_band_file(p)
    assert "bad.toml" in str(e.value)
