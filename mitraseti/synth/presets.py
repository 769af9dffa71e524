"""Instrument presets: real channel widths and integration times of SETI spectrometers.

* ``voyager``: Breakthrough Listen GBT high-resolution product, as in the public Voyager 1
  file: 2.9296875 MHz coarse channels split by 2**20-point FFTs -> df = 2.7939677 Hz;
  51 FFTs averaged -> dt = 51 * 2**20 / 2.9296875e6 s = 18.253611 s; 16 spectra (5 min).
  X band near the Voyager 1 carrier (8420.4 MHz); GBT telescope_id 6, foff < 0.
* ``gbt_fine``: as the public BL GBT file DIAG_SGR_B2 (a setigen sample):
  df = 2.9296875 MHz / 2**21 = 1.3969839 Hz, tsamp = 1.431656 s (two 2**21-point FFTs),
  32 spectra, fch1 6664 MHz, foff < 0, telescope 6, machine 20.
* ``parkes_like``: Parkes (Murriyang) BL-like fine product, approximate: df = 1 MHz / 2**18 =
  3.8147 Hz, dt = 40 * 2**18 / 1e6 = 10.486 s, 16 spectra, L band, telescope_id 4.
* ``ilofar_like``: as a public I-LOFAR BL file: 195.3125 kHz subbands split by
  2**16-point FFTs -> df = 2.9802322 Hz; two FFTs per spectrum -> dt = 0.67108864 s;
  128 spectra here (the file has 1341), 153 MHz, foff > 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from .observation import make_header, make_observation


@dataclass(frozen=True)
class Preset:
    """Grid of one instrument; ``kwargs()`` feeds :func:`make_observation`."""

    name: str
    df_hz: float
    dt_s: float
    n_spectra: int
    n_chans: int
    fch1_mhz: float
    foff_sign: int
    telescope_id: int
    machine_id: int
    description: str

    def kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Arguments for :func:`make_observation` / :func:`make_header`, with overrides."""
        d = asdict(self)
        d.pop("name")
        d.pop("description")
        d.update(overrides)
        return d

    def header(self, **overrides: Any):
        """The ObservationHeader of this preset."""
        return make_header(**self.kwargs(**overrides))

    def make(self, **overrides: Any):
        """``make_observation`` on this preset's grid (overrides: any of its arguments)."""
        return make_observation(**self.kwargs(**overrides))

    def with_(self, **changes: Any) -> "Preset":
        """A copy with some fields changed (e.g. n_spectra=64)."""
        return replace(self, **changes)


PRESETS: dict[str, Preset] = {
    "voyager": Preset("voyager", 2.7939677238464355, 18.253611008, 16, 1024, 8421.0, -1, 6, 10,
                      "GBT BL high-resolution product (Voyager 1 file): 2.79 Hz x 18.25 s x 16"),
    "gbt_fine": Preset("gbt_fine", 1.3969838619232178, 1.431655765333332, 32, 1024,
                       6663.99999987334, -1, 6, 20,
                       "GBT BL fine-resolution DIAG product (real sample file): 1.40 Hz x 1.43 s"),
    "parkes_like": Preset("parkes_like", 3.814697265625, 10.48576, 16, 1024, 1400.0, -1, 4, 20,
                          "Parkes-like BL fine product (approximate): 3.81 Hz x 10.5 s x 16"),
    "ilofar_like": Preset("ilofar_like", 2.9802322387695312, 0.67108864, 128, 512,
                          153.00024946488207, 1, -1, 20,
                          "I-LOFAR fine product (real file): 2.98 Hz x 0.671 s, 153 MHz"),
}
