"""Sky position of the pointing for the exports: sexagesimal strings and galactic l, b.

These are two fixed formulas, written out here rather than taken from astropy.coordinates:
importing astropy.coordinates costs about 0.3 s, an eighth of a whole ``mitraseti
analyze`` on a 64 MiB file, and the exports need nothing else from it. The tests check
both against astropy.coordinates on random positions.

Galactic coordinates are the IAU 1958 system in J2000 coordinates (the north galactic
pole and the galactic longitude of the north celestial pole below); the pointing is taken
to be J2000 / ICRS, as SIGPROC headers give it (ICRS and FK5 J2000 differ by < 0.03").
"""
from __future__ import annotations

import math

NGP_RA_DEG = 192.85948121     # right ascension of the north galactic pole (J2000), deg
NGP_DEC_DEG = 27.12825118     # declination of the north galactic pole (J2000), deg
L_NCP_DEG = 122.93191857      # galactic longitude of the north celestial pole, deg


def galactic(ra_deg: float, dec_deg: float) -> tuple[float, float]:
    """Galactic (l, b) in degrees of the J2000 position (ra_deg, dec_deg) in degrees;
    l in [0, 360)."""
    ra, dec = math.radians(ra_deg), math.radians(dec_deg)
    ra0, dec0 = math.radians(NGP_RA_DEG), math.radians(NGP_DEC_DEG)
    sin_b = (math.sin(dec) * math.sin(dec0)
             + math.cos(dec) * math.cos(dec0) * math.cos(ra - ra0))
    b = math.degrees(math.asin(max(-1.0, min(1.0, sin_b))))
    y = math.cos(dec) * math.sin(ra - ra0)
    x = math.sin(dec) * math.cos(dec0) - math.cos(dec) * math.sin(dec0) * math.cos(ra - ra0)
    lon = (L_NCP_DEG - math.degrees(math.atan2(y, x))) % 360.0
    return (0.0 if lon >= 360.0 else lon), b


def sexagesimal(value: float, precision: int, sep: str = ":", pad: bool = False,
                alwayssign: bool = False) -> str:
    """``value`` (hours or degrees) as units, minutes and seconds, the seconds rounded to
    ``precision`` decimals: ``sep`` ':' gives 05:03:07.20, 'hms' 5h03m07.2s, 'dms'
    5d03m07.2s. ``pad``: the first field has two digits; ``alwayssign``: '+' on
    positive values."""
    scale = 10 ** precision
    ticks = round(abs(value) * 3600 * scale)       # in units of 10**-precision seconds
    whole, frac = divmod(ticks, scale)
    units, rest = divmod(whole, 3600)
    minutes, seconds = divmod(rest, 60)
    sign = "-" if value < 0 and ticks else ("+" if alwayssign else "")
    first = f"{units:02d}" if pad else f"{units:d}"
    sec = f"{seconds:02d}" + (f".{frac:0{precision}d}" if precision > 0 else "")
    if sep == ":":
        return f"{sign}{first}:{minutes:02d}:{sec}"
    if sep in ("hms", "dms"):
        return f"{sign}{first}{sep[0]}{minutes:02d}{sep[1]}{sec}{sep[2]}"
    raise ValueError(f"sep must be ':', 'hms' or 'dms', got {sep!r}")


def ra_hours(ra_deg: float) -> float:
    """Right ascension in hours, wrapped to [0, 24)."""
    return (ra_deg % 360.0) / 15.0
