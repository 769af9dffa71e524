"""A 4 GiB Breakthrough-Listen-like SIGPROC .fil made in about a second.

64 coarse channels of 2^20 fine channels (2.79 Hz) by 16 spectra of float32, the shape of a
high-frequency-resolution file: 4 GiB of data. Only coarse channel 0 is written (seeded
noise with a bright drifting tone, 64 MiB); the rest of the file is a hole that reads as
zeros, so the test costs the shared disk 64 MiB, not 4 GiB. The file's size, header and
layout are those of the full observation, and the reader cannot tell the difference.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mitraseti.io.sigproc import format_header
from mitraseti.synth import make_header

N_COARSE = 64
NFPC = 1 << 20
N_SPECTRA = 16
TONE_CHANNEL = 448_000          # channel of the tone in coarse channel 0 at t = 0 (where
                                # the test's wheel zoom lands)
TONE_STEP = 3                   # channels per spectrum


def write_big_fil(path: Path, n_coarse: int = N_COARSE, nfpc: int = NFPC,
                  n_spectra: int = N_SPECTRA, seed: int = 3) -> Path:
    """Write the file (header + n_coarse * nfpc * n_spectra float32) and return its path."""
    header = make_header(n_spectra=n_spectra, n_chans=n_coarse * nfpc, n_coarse_chan=n_coarse,
                         foff_sign=1, source_name="BIG")
    head = format_header(header, n_spectra=n_spectra)
    row_bytes = n_coarse * nfpc * 4
    rng = np.random.default_rng(seed)
    with open(path, "wb") as fh:
        fh.write(head)
        for t in range(n_spectra):
            coarse0 = rng.normal(10.0, 1.0, size=nfpc).astype(np.float32)
            coarse0[TONE_CHANNEL + TONE_STEP * t] = 60.0
            os.pwrite(fh.fileno(), coarse0.tobytes(), len(head) + t * row_bytes)
        fh.truncate(len(head) + n_spectra * row_bytes)
    return Path(path)
