"""Observation files: SIGPROC filterbank (.fil) and Breakthrough Listen HDF5 (.h5).

Public API::

    open_observation(path, n_coarse_chan=None, if_index=0) -> Observation
    Channelisation (Observation.coarse: n, nfpc, how chosen; rules in coarse.py)
    read_observation(path) -> (ObservationHeader, float32 (n_spectra, nchans))
    write_fil(path, header, data), FilWriter(path, header)   # atomic writers
    write_h5(path, header, data, mask=None)
    frequencies_hz(header, c0=0, c1=None), describe(header)
    ObservationHeader, ObservationFormatError, ObservationNotFoundError
"""
from .coarse import Channelisation
from .errors import ObservationFormatError, ObservationNotFoundError
from .fil import FilWriter, write_fil
from .h5 import write_h5
from .header import TELESCOPES, ObservationHeader
from .observation import Observation, open_observation, read_observation
from .summary import describe, frequencies_hz

__all__ = [
    "Channelisation", "ObservationHeader", "TELESCOPES", "ObservationFormatError", "ObservationNotFoundError",
    "Observation", "open_observation", "read_observation", "write_fil", "FilWriter",
    "write_h5", "frequencies_hz", "describe",
]
