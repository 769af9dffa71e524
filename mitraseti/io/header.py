"""One observation header for both file formats, with units stated.

SIGPROC keeps frequencies in MHz and times in seconds / MJD; we keep those units in the
stored fields (so round trips are lossless) and expose derived quantities in SI units
(`df_hz`, `dt_s`, ...) for the search code.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# SIGPROC telescope ids (sigproc aliases.c, plus the ids used by Breakthrough Listen tools).
TELESCOPES = {
    0: "Fake", 1: "Arecibo", 2: "Ooty", 3: "Nancay", 4: "Parkes", 5: "Jodrell",
    6: "GBT", 7: "GMRT", 8: "Effelsberg", 9: "ATA", 10: "SRT", 11: "LOFAR",
    12: "VLA", 20: "CHIME", 21: "FAST", 64: "MeerKAT", 65: "KAT-7",
    -1: "Unknown",
}


@dataclass
class ObservationHeader:
    """Observation metadata.

    Units: ``fch1``/``foff`` in MHz (centre of the first channel, channel width, may be
    negative), ``tsamp`` in s, ``tstart`` in MJD (UTC), ``src_raj``/``src_dej`` in SIGPROC
    packed sexagesimal (hhmmss.s / ddmmss.s), ``az_start``/``za_start`` in degrees.
    ``n_spectra`` is the number of time integrations; ``nfpc`` the number of fine channels
    per coarse channel (0 when unknown).
    """

    nchans: int
    fch1: float
    foff: float
    tsamp: float
    n_spectra: int
    nbits: int = 32
    nifs: int = 1
    tstart: float = 60000.0
    source_name: str = "unknown"
    telescope_id: int = -1
    machine_id: int = -1
    data_type: int = 1
    rawdatafile: str = ""
    src_raj: float = 0.0
    src_dej: float = 0.0
    az_start: float = 0.0
    za_start: float = 0.0
    barycentric: int = 0
    pulsarcentric: int = 0
    ibeam: int = 0
    nbeams: int = 1
    nfpc: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    # ---- derived, SI units -------------------------------------------------------
    @property
    def df_hz(self) -> float:
        """Fine channel width |foff| in Hz."""
        return abs(self.foff) * 1e6

    @property
    def dt_s(self) -> float:
        """Time between spectra in s."""
        return float(self.tsamp)

    @property
    def obs_length_s(self) -> float:
        """Observation length T * dt in s."""
        return self.n_spectra * self.tsamp

    @property
    def drift_resolution(self) -> float:
        """turboSETI >= 2.2.3 drift resolution r = df / ((T - 1) dt) in Hz/s."""
        return self.df_hz / (max(self.n_spectra - 1, 1) * self.tsamp)

    # ---- unit conversions (the one place for Hz/s <-> channels per spectrum) -------
    def channels_per_spectrum(self, drift_rate: float) -> float:
        """File channels a signal drifting at ``drift_rate`` Hz/s moves from one spectrum
        to the next: ``drift_rate * dt / foff``. Signed in file channel order (foff < 0: a
        rising frequency moves to lower channels)."""
        return drift_rate * self.dt_s / (self.foff * 1e6)

    def drift_rate_for(self, channels_per_spectrum: float) -> float:
        """The drift rate in Hz/s of a path moving ``channels_per_spectrum`` file channels
        per spectrum (the inverse of :meth:`channels_per_spectrum`)."""
        return channels_per_spectrum * (self.foff * 1e6) / self.dt_s

    @property
    def telescope(self) -> str:
        return TELESCOPES.get(int(self.telescope_id), f"telescope {self.telescope_id}")

    @property
    def ra_deg(self) -> float:
        """Right ascension in degrees from SIGPROC hhmmss.s."""
        return _sexagesimal_packed_to_float(self.src_raj) * 15.0

    @property
    def dec_deg(self) -> float:
        """Declination in degrees from SIGPROC ddmmss.s."""
        return _sexagesimal_packed_to_float(self.src_dej)

    def channel_frequency_hz(self, channel: float) -> float:
        """Centre frequency in Hz of (possibly fractional) channel index in the file."""
        return (self.fch1 + channel * self.foff) * 1e6

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(df_hz=self.df_hz, dt_s=self.dt_s, obs_length_s=self.obs_length_s,
                 drift_resolution=self.drift_resolution, telescope=self.telescope,
                 ra_deg=self.ra_deg, dec_deg=self.dec_deg)
        return d

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _sexagesimal_packed_to_float(value: float) -> float:
    """SIGPROC packs hh:mm:ss.s as hhmmss.s (and dd:mm:ss.s as ddmmss.s)."""
    sign = -1.0 if value < 0 else 1.0
    v = abs(float(value))
    hours = int(v // 10000)
    minutes = int((v - hours * 10000) // 100)
    seconds = v - hours * 10000 - minutes * 100
    return sign * (hours + minutes / 60.0 + seconds / 3600.0)
