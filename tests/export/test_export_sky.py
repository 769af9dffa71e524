"""The exports' sky positions (mitraseti.export.sky) against astropy.coordinates."""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord

from mitraseti.export.sky import galactic, ra_hours, sexagesimal


def _positions(n=300, seed=7):
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    # plus the poles, the origin and values whose seconds round up to a whole minute/degree
    ra = np.concatenate([ra, [0.0, 359.9999999, 83.633, 15 * (5 + 59 / 60 + 59.996 / 3600)]])
    dec = np.concatenate([dec, [90.0, -89.99999999, 0.0, -(7 + 59 / 60 + 59.96 / 3600)]])
    return ra, dec


def test_galactic_matches_astropy_within_a_tenth_of_an_arcsecond():
    ra, dec = _positions()
    gal = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs").galactic
    ours = np.array([galactic(r, d) for r, d in zip(ra, dec)])
    sep = SkyCoord(l=ours[:, 0] * u.deg, b=ours[:, 1] * u.deg, frame="galactic").separation(gal)
    assert sep.arcsec.max() < 0.1
    assert ((ours[:, 0] >= 0) & (ours[:, 0] < 360)).all()
    # the galactic centre and the north galactic pole themselves
    l0, b0 = galactic(266.40499, -28.93617)
    assert abs(b0) < 1e-3 and min(l0, 360 - l0) < 1e-3
    assert galactic(192.85948121, 27.12825118)[1] == pytest.approx(90.0, abs=1e-6)


@pytest.mark.parametrize("precision", [0, 1, 2])
def test_sexagesimal_matches_astropy_to_string(precision):
    ra, dec = _positions()
    for r, d in zip(ra, dec):
        lon = SkyCoord(ra=r * u.deg, dec=d * u.deg).ra
        assert sexagesimal(ra_hours(r), precision, sep=":", pad=True) == lon.to_string(
            unit=u.hourangle, sep=":", precision=precision, pad=True)
        assert sexagesimal(d, precision, sep=":", pad=True, alwayssign=True) == Angle(
            d * u.deg).to_string(unit=u.deg, sep=":", precision=precision, pad=True,
                                 alwayssign=True)
        assert sexagesimal(ra_hours(r), precision, sep="hms") == Angle(r * u.deg).to_string(
            unit=u.hourangle, sep="hms", precision=precision)
        assert sexagesimal(d, precision, sep="dms") == Angle(d * u.deg).to_string(
            unit=u.deg, sep="dms", precision=precision)


def test_sexagesimal_rejects_an_unknown_separator():
    with pytest.raises(ValueError, match="sep"):
        sexagesimal(1.0, 1, sep="/")
