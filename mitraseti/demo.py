"""A demo observation for a zero-setup first run (``mitraseti demo``).

Voyager-like X-band grid (2.79 Hz x 18.25 s channels, 16 spectra, 8421 MHz, falling
frequency), by default 16 coarse channels x 2^16 fine channels, chi-square noise, and a few
injected signals of known truth: narrowband drifting tones, stationary tones and a pulsed
tone, each in its own coarse channel, away from the DC bin and the band edges. Seeded: the
same arguments give the same file.
"""
from __future__ import annotations

from pathlib import Path

DEMO_FILE = "demo_observation.fil"
N_COARSE = 16
NFPC = 2 ** 16

# (kind, coarse channel, position in the coarse channel as a fraction, drift Hz/s, S/N)
DEMO_SIGNALS = [
    ("narrowband", 1, 0.23, 0.35, 40.0),
    ("narrowband", 3, 0.71, -1.20, 60.0),
    ("narrowband", 5, 0.30, 2.50, 35.0),
    ("narrowband", 7, 0.62, 0.00, 50.0),
    ("pulsed", 9, 0.40, 0.20, 60.0),
    ("narrowband", 11, 0.80, -0.60, 25.0),
    ("narrowband", 13, 0.15, 0.00, 80.0),
]


def demo_signals(n_coarse: int = N_COARSE, nfpc: int = NFPC) -> list:
    """The injected signals (mitraseti.synth objects) for a grid of ``n_coarse`` x ``nfpc``;
    signals whose coarse channel does not exist on a smaller grid wrap around."""
    from mitraseti.synth import NarrowbandSignal, PulsedSignal

    out = []
    for kind, coarse, frac, drift, snr in DEMO_SIGNALS:
        channel = (coarse % n_coarse) * nfpc + int(frac * nfpc) + 0.3
        if kind == "pulsed":
            out.append(PulsedSignal(channel=channel, drift_rate=drift, snr=snr, period=90.0,
                                    duty_cycle=0.35))
        else:
            out.append(NarrowbandSignal(channel=channel, drift_rate=drift, snr=snr))
    return out


def make_demo_observation(out_dir, n_coarse: int = N_COARSE, nfpc: int = NFPC,
                          seed: int = 2024, name: str = DEMO_FILE):
    """Write the demo observation into ``out_dir``; returns (path, SyntheticObservation)."""
    from mitraseti.synth import make_observation

    if n_coarse < 1 or nfpc < 1024:
        raise ValueError(f"demo grid: expected n_coarse >= 1 and nfpc >= 1024, got "
                         f"{n_coarse} x {nfpc}")
    synth = make_observation(n_spectra=16, n_chans=n_coarse * nfpc, fch1_mhz=8421.0,
                             foff_sign=-1, tstart=60000.5, source_name="MITRASETI_DEMO",
                             signals=demo_signals(n_coarse, nfpc), seed=seed,
                             n_coarse_chan=n_coarse, telescope_id=6, src_raj=174000.0,
                             src_dej=121500.0)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = synth.write(out / name)
    return path, synth
