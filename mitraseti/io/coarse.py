"""How an observation's band splits into coarse channels, and where that number came from.

Precedence (first that applies):

1. the caller's ``n_coarse_chan`` (must divide nchans; must agree with a file ``nfpc``);
2. the file's ``nfpc`` attribute (BL .h5: fine channels per coarse channel);
3. a known product (``KNOWN_PRODUCTS``), recognised from nchans and the channel width;
4. the whole band as one coarse channel.

Known products follow what blimpy's ``calc_n_coarse_chan`` and turboSETI (which calls it)
assume, with the channelisations of the Breakthrough Listen data products (Lebofsky et
al. 2019, PASP 131, 124505): the BL digital backends split the band into polyphase coarse
channels of 187.5 MHz / 64 = 2.9296875 MHz, and each product FFTs every coarse channel
into a fixed number of fine channels. A product matches when its fine-channel width
(2.9296875 MHz / nfpc) equals |foff| within ``WIDTH_TOLERANCE`` and nfpc divides nchans.
Last, blimpy's own high-resolution rule: nchans a multiple of 2**20 means 2**20 fine
channels per coarse channel, whatever foff (GBT and Parkes high-resolution files).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ObservationFormatError
from .header import ObservationHeader

BL_COARSE_WIDTH_HZ = 187.5e6 / 64   # 2.9296875 MHz
WIDTH_TOLERANCE = 1e-3              # relative, on the fine-channel width
HIRES_NFPC = 1 << 20                # blimpy's HIRES_THRESHOLD

SOURCE_PARAMETER = "parameter n_coarse_chan"
SOURCE_FILE = "file attribute nfpc"
SOURCE_DEFAULT = "default: whole band"


@dataclass(frozen=True)
class Product:
    """A channelisation: ``nfpc`` fine channels per 2.9296875 MHz coarse channel."""

    name: str
    nfpc: int

    @property
    def fine_width_hz(self) -> float:
        return BL_COARSE_WIDTH_HZ / self.nfpc

    def matches(self, nchans: int, df_hz: float) -> bool:
        return (nchans % self.nfpc == 0
                and abs(df_hz - self.fine_width_hz) <= WIDTH_TOLERANCE * self.fine_width_hz)


#: fine channels per coarse channel of the BL products (fine-channel width in the name)
KNOWN_PRODUCTS: tuple[Product, ...] = (
    Product("BL high spectral resolution, rev 2A (2**20 x 2.79 Hz)", 1 << 20),
    Product("BL high spectral resolution, rev 1B (999424 x 2.93 Hz)", 999424),
    Product("BL high spectral resolution, rev 1A (1033216 x 2.84 Hz)", 1033216),
    Product("BL mid resolution (1024 x 2.86 kHz)", 1024),
    Product("BL high time resolution (8 x 366 kHz)", 8),
)


@dataclass(frozen=True)
class Channelisation:
    """``n`` coarse channels of ``nfpc`` fine channels; ``source`` says how ``n`` was
    chosen ("parameter n_coarse_chan", "file attribute nfpc", "inferred: <rule>" or
    "default: whole band")."""

    n: int
    nfpc: int
    source: str

    @property
    def inferred(self) -> bool:
        return self.source.startswith("inferred")

    def to_dict(self) -> dict:
        return {"n": int(self.n), "nfpc": int(self.nfpc), "source": self.source}


def infer(header: ObservationHeader) -> Channelisation | None:
    """The channelisation of a known product that ``header`` matches, or None."""
    nchans, df_hz = int(header.nchans), float(header.df_hz)
    for product in KNOWN_PRODUCTS:
        if product.matches(nchans, df_hz):
            return Channelisation(nchans // product.nfpc, product.nfpc,
                                  f"inferred: {product.name}")
    if nchans >= HIRES_NFPC and nchans % HIRES_NFPC == 0:
        return Channelisation(nchans // HIRES_NFPC, HIRES_NFPC,
                              "inferred: nchans is a multiple of 2**20 (blimpy's "
                              "high-resolution rule)")
    return None


def _check_count(n_coarse_chan) -> int:
    if isinstance(n_coarse_chan, bool) or not isinstance(n_coarse_chan, (int, np.integer)) \
            or n_coarse_chan < 1:
        raise ValueError(f"n_coarse_chan must be a positive integer, got {n_coarse_chan!r}")
    return int(n_coarse_chan)


def resolve(header: ObservationHeader, n_coarse_chan: int | None, path) -> Channelisation:
    """The coarse channels of ``header`` by the precedence of the module doc. Raises
    ValueError for a bad ``n_coarse_chan`` and ObservationFormatError when it or the
    file's nfpc does not divide nchans, or when the two disagree."""
    nchans = int(header.nchans)
    n = None if n_coarse_chan is None else _check_count(n_coarse_chan)
    if n is not None and nchans % n:
        raise ObservationFormatError(
            path, f"n_coarse_chan = {n} does not divide nchans = {nchans} evenly: every "
                  "coarse channel must hold the same number of channels")
    if header.nfpc:
        if header.nfpc < 0 or nchans % header.nfpc:
            raise ObservationFormatError(
                path, f"nfpc = {header.nfpc} does not divide nchans = {nchans} evenly")
        if n is not None and nchans // n != header.nfpc:
            raise ObservationFormatError(
                path, f"n_coarse_chan = {n} disagrees with the file's nfpc = {header.nfpc} "
                      f"({nchans // header.nfpc} coarse channels)")
        return Channelisation(nchans // int(header.nfpc), int(header.nfpc), SOURCE_FILE)
    if n is not None:
        return Channelisation(n, nchans // n, SOURCE_PARAMETER)
    return infer(header) or Channelisation(1, nchans, SOURCE_DEFAULT)
