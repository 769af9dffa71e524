"""Build a synthetic observation: header + noise + injected signals + the truth.

S/N convention (what ``snr`` means everywhere in this package, turboSETI-like):

    snr = sum_i P_i / (sqrt(T) * sigma)

* ``P_i``: the signal's power, in spectrum i, in the one fine channel that holds the centre
  of its track at ``t_i`` (the channel a perfect de-Doppler path visits). A signal smeared
  over several channels, or centred between two, therefore needs more total power for
  the same snr, exactly as a de-Doppler search sees it.
* ``sigma``: standard deviation of one noise pixel (``NoiseModel.pixel_std``), so
  ``sqrt(T) * sigma`` is the noise std of the time-summed spectrum; the noise median is
  not part of P_i (signals are added on top of the noise).
* ``T``: the number of spectra. Off-pulses and track parts outside the band add zero.

``level`` (when given) is the signal's power per spectrum summed over all channels, in
data units, at full envelope; the truth then reports the snr that level produces.

With ``impairments`` (:mod:`mitraseti.synth.impairments`) the receiver gain G(f) multiplies
noise and signal alike, so ``snr`` is the S/N against the LOCAL noise where the signal
sits (a tone at a bandpass edge of gain 1/3 has 1/3 of the power over 1/3 of the noise
std: the same S/N). ``level`` stays the power before the gain (the data hold
``level * local_gain``). Noise-like broadband RFI under a signal raises the local noise by
``local_noise_factor``; the S/N a search can reach there is ``snr / local_noise_factor``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mitraseti.io.header import ObservationHeader

from .impairments import ImpairmentRecord, Impairments
from .noise import NoiseModel
from .profiles import render_track
from .signals import Signal, spectrum_times

VOYAGER_DF_HZ = 2.7939677238464355  # 2.9296875 MHz coarse channel / 2**20
VOYAGER_DT_S = 18.253611008  # 51 FFTs of 2**20 points at 2.9296875 MHz


@dataclass
class InjectedSignal:
    """The truth about one injected signal, in the file's frame.

    label: docs/signals.md morphology label. kind: the generator kind ("narrowband", "chirp",
    "pulsed", "broadband", "impulse", "hot_pixel", "dc_spike").
    frequency_hz: absolute frequency in the first spectrum of this file, Hz.
    drift_rate: instantaneous drift in the first spectrum, Hz/s (positive = rising).
    snr: integrated S/N (module docstring). level: power per spectrum, data units.
    width_hz: profile width. bandwidth_hz: occupied width at any one time (max of width
    and per-spectrum smear), Hz. channel: fractional file channel of the centre in the
    first spectrum; channel_index: that channel rounded. track_channels: the fractional
    centre channel in every spectrum. index: position in the ``signals`` list given.
    params: kind-specific parameters (SI units). local_gain: mean receiver gain along
    the track (1 without impairments). local_noise_factor: mean noise std along the track
    relative to ``NoiseModel.pixel_std`` before the gain (> 1 under broadband RFI).
    """

    label: str
    kind: str
    frequency_hz: float
    drift_rate: float
    snr: float
    level: float
    width_hz: float
    bandwidth_hz: float
    profile: str
    channel: float
    channel_index: int
    track_channels: list[float]
    index: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    local_gain: float = 1.0
    local_noise_factor: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SyntheticObservation:
    """A generated observation: ``header``, ``data`` float32 (n_spectra, nchans) in file
    channel order, and ``truth`` (one :class:`InjectedSignal` per injected signal).
    ``impairments``: the dirty-receiver model used (or None); ``impairment_truth``: what it
    did (gain per channel, DC channels, RFI extents, quantisation), an ImpairmentRecord."""

    header: ObservationHeader
    data: np.ndarray
    truth: list[InjectedSignal]
    noise: NoiseModel
    seed: Any = None
    impairments: Impairments | None = None
    impairment_truth: ImpairmentRecord | None = None

    @property
    def frequencies_hz(self) -> np.ndarray:
        """Centre frequency (Hz) of every file channel."""
        h = self.header
        return (h.fch1 + np.arange(h.nchans) * h.foff) * 1e6

    def write(self, path: str | Path) -> Path:
        """Write as SIGPROC ``.fil`` or Breakthrough Listen ``.h5`` (chosen by suffix)."""
        path = Path(path)
        from mitraseti import io  # lazy: the io room must not be needed to generate data

        if path.suffix == ".fil":
            io.write_fil(path, self.header, self.data)
        elif path.suffix in (".h5", ".hdf5"):
            io.write_h5(path, self.header, self.data)
        else:
            raise ValueError(f"{path}: expected a .fil or .h5 suffix")
        return path


def make_header(n_spectra: int = 16, n_chans: int = 1024, df_hz: float = VOYAGER_DF_HZ,
                dt_s: float = VOYAGER_DT_S, fch1_mhz: float = 8421.0, foff_sign: int = -1,
                tstart: float = 60000.0, source_name: str = "SYNTHETIC",
                n_coarse_chan: int | None = 1, **header_fields: Any) -> ObservationHeader:
    """The header :func:`make_observation` would build for these arguments; also the one
    header builder of the test suite.

    df_hz: channel width (Hz, > 0); foff_sign: +1 (rising) or -1 (falling frequency with
    channel index); dt_s: time between spectra (s); tstart: MJD of the first spectrum;
    n_coarse_chan must divide n_chans (sets ``nfpc``; None: ``nfpc`` 0, the channelisation
    left to the reader). Extra keyword arguments become header fields (telescope_id,
    machine_id, src_raj, nbits, ...).
    """
    if n_spectra < 1 or n_chans < 1:
        raise ValueError(f"n_spectra, n_chans: expected >= 1, got {n_spectra}, {n_chans}")
    if df_hz <= 0 or dt_s <= 0:
        raise ValueError(f"df_hz, dt_s: expected > 0, got {df_hz}, {dt_s}")
    if foff_sign not in (1, -1):
        raise ValueError(f"foff_sign: expected +1 or -1, got {foff_sign}")
    if n_coarse_chan is not None and (n_coarse_chan < 1 or n_chans % n_coarse_chan):
        raise ValueError(f"n_coarse_chan: expected a divisor of n_chans={n_chans}, got {n_coarse_chan}")
    return ObservationHeader(
        nchans=int(n_chans), fch1=float(fch1_mhz), foff=foff_sign * df_hz / 1e6,
        tsamp=float(dt_s), n_spectra=int(n_spectra), tstart=float(tstart),
        source_name=source_name, nfpc=int(n_chans // n_coarse_chan) if n_coarse_chan else 0,
        **header_fields)


def render_signal(signal: Signal, header: ObservationHeader, pixel_std: float,
                  time_offset_s: float = 0.0, index: int = 0, allow_outside: bool = False):
    """Render one signal: returns ``(rows, cols, values, truth)`` with values in data units.

    A signal given by ``snr`` whose track never enters the band raises ValueError, unless
    ``allow_outside`` (cadences: a drifting signal may have left the band by a later
    file); it is then recorded with snr = level = 0 and ``params["outside_band"] = True``.
    """
    t = spectrum_times(header, time_offset_s)
    df, dt = header.df_hz, header.dt_s
    f0 = signal.start_frequency_hz(header)
    freqs = f0 + signal.offset_hz(t)
    centres = (freqs / 1e6 - header.fch1) / header.foff
    smears = np.abs(signal.rate(t)) * dt / df
    rows, cols, vals = render_track(centres, smears, signal.profile, signal.width / df, header.nchans)
    vals = vals * signal.envelope(t, dt)[rows]
    path_ch = np.floor(centres + 0.5).astype(np.int64)
    path = float(np.sum(vals[cols == path_ch[rows]]))
    noise_sum_std = np.sqrt(header.n_spectra) * pixel_std
    name = f"signal {index} ({type(signal).__name__})"
    params = signal.extra_params()
    if signal.level is not None:
        level = signal.level
    elif path <= 0 and allow_outside:
        level = 0.0
        params["outside_band"] = True
    else:
        if path <= 0:
            raise ValueError(f"{name}: no power on its track inside the band "
                             f"(channels {centres.min():.1f}..{centres.max():.1f} of {header.nchans})")
        if pixel_std <= 0:
            raise ValueError(f"{name}: snr needs noise with pixel_std > 0")
        level = signal.snr * noise_sum_std / path
    snr = level * path / noise_sum_std if noise_sum_std > 0 else float("inf")
    truth = InjectedSignal(
        label=signal.label_for(header, time_offset_s), kind=signal.kind,
        frequency_hz=float(freqs[0]), drift_rate=float(signal.rate(t[:1])[0]),
        snr=float(snr), level=float(level), width_hz=float(signal.width),
        bandwidth_hz=signal.occupied_bandwidth_hz(header, time_offset_s),
        profile=signal.profile, channel=float(centres[0]),
        channel_index=int(path_ch[0]), track_channels=[float(c) for c in centres],
        index=index, params=params)
    return rows, cols, vals * level, truth


def make_observation(n_spectra: int = 16, n_chans: int = 1024, df_hz: float = VOYAGER_DF_HZ,
                     dt_s: float = VOYAGER_DT_S, fch1_mhz: float = 8421.0, foff_sign: int = -1,
                     tstart: float = 60000.0, source_name: str = "SYNTHETIC",
                     noise: NoiseModel | None = None, signals: Sequence[Signal] = (),
                     seed: int | np.random.Generator | None = 0, n_coarse_chan: int = 1,
                     time_offset_s: float = 0.0, allow_outside: bool = False,
                     impairments: Impairments | None = None,
                     **header_fields: Any) -> SyntheticObservation:
    """Generate one observation with noise and injected signals.

    Same arguments and same seed give byte-identical data. ``noise`` defaults to
    ``NoiseModel()`` (chi2, 16 dof, mean 1). ``time_offset_s``: seconds between the signals'
    epoch and this file's first spectrum (used by :func:`make_cadence`). allow_outside:
    accept signals whose track misses the band (see :func:`render_signal`).
    impairments: a dirty receiver (bandpass, DC spikes, broadband RFI, quantisation; see
    :mod:`mitraseti.synth.impairments`); the noise draw and the signals are the same as
    without it for the same seed, and every truth ``snr`` stays the S/N against the local
    noise (module docstring). Other arguments: see :func:`make_header`.
    Returns a :class:`SyntheticObservation`.
    """
    header = make_header(n_spectra, n_chans, df_hz, dt_s, fch1_mhz, foff_sign, tstart,
                         source_name, n_coarse_chan, **header_fields)
    noise = NoiseModel() if noise is None else noise
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    data = noise.draw(n_spectra, n_chans, rng)
    rfi_records, noise_factor = [], None
    if impairments is not None:
        rfi_records, noise_factor = impairments.add_rfi(data, header, noise, rng, time_offset_s)
    truth = []
    for index, signal in enumerate(signals):
        rows, cols, vals, record = render_signal(signal, header, noise.pixel_std, time_offset_s,
                                                 index, allow_outside)
        np.add.at(data, (rows, cols), vals.astype(np.float32))
        truth.append(record)
    noise.apply_instrument(data, header.nfpc, rng)
    record = None
    if impairments is not None:
        header, gain, dc, q_scale, q_offset = impairments.apply_receiver(data, header, noise, rng)
        record = ImpairmentRecord(gain=gain, dc_channels=dc, rfi=rfi_records,
                                  quant_scale=q_scale, quant_offset=q_offset)
        for signal_truth in truth:
            _set_local_factors(signal_truth, gain, noise_factor)
    return SyntheticObservation(header=header, data=data, truth=truth, noise=noise,
                                seed=None if isinstance(seed, np.random.Generator) else seed,
                                impairments=impairments, impairment_truth=record)


def _set_local_factors(truth: InjectedSignal, gain: np.ndarray, noise_factor: np.ndarray) -> None:
    """Mean gain and RFI noise factor over the in-band channels of the signal's track."""
    path = np.floor(np.asarray(truth.track_channels) + 0.5).astype(np.int64)
    path = path[(path >= 0) & (path < gain.size)]
    if path.size:
        truth.local_gain = float(np.mean(gain[path]))
        truth.local_noise_factor = float(np.mean(noise_factor[path]))
