"""Search drivers: one coarse channel, or a whole observation.

A coarse-channel search runs several *stages*, each a Taylor-tree search of one view of
the block, with its own drift grid and its own noise statistics:

* the plain tree on the full block (``source = "dedoppler"``, boxcar 1), at full
  resolution for drifts up to ~3 channels per spectrum (whole drift blocks); faster
  signals are smeared over several channels per spectrum and are left to the decimated
  matched filter, where the tree needs a few drift blocks instead of ~50;
* when a path at ``max_drift`` would cross more than 1/8 of the coarse channel during the
  observation (narrow bands, long observations), the plain tree on time segments of
  T2/2, T2/4, ... >= 16 spectra, so signals that leave the band are still integrated
  while they are inside it (``source = "dedoppler"``, ``spectrum_start/count`` set);
* the matched filter (``source = "matched_filter"``): one boxcar per smear band of
  drifts faster than 1 channel per spectrum, plus wide boxcars for wide slow signals
  (see ``matched_filter.py``).

Raw hits of all stages are merged into filtered hits (``filtering.py``).
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..io.header import ObservationHeader
from .drift_grid import DriftGrid, next_pow2
from .baseline import EDGE_SHORT, flatten_block, restore_block
from .filtering import (dc_blanked, estimate_bandwidth, hit_path, is_artifact, is_bl_like,
                        merge_hits)
from .hit import DEDOPPLER, MATCHED_FILTER, Hit
from .hitsearch import top_hits
from .matched_filter import (FULL_RES_SMEAR, FUSED_SMEAR, boxcar, boxcar_split,
                             decimate_into, max_smear_channels, pair_sum_columns_into,
                             pair_sum_in_place, smear_bands, wide_bands)
from .params import ParameterError, SearchParams
from .refine import refine_hits
from .snr import spectrum_stats, to_snr
from .taylor import (OUTPUT_BUFFERS, _max_over_drift, output_workspace, release_workspace,
                     workspace)

logger = logging.getLogger("mitraseti.search")

MIN_SEGMENT = 16
LEVEL1_PIECES = 2  # level-1 stages are made and searched in this many channel pieces ...
MIN_PIECED_CHANNELS = 1 << 14  # ... when level 1 has at least this many channels
PIECE_ALIGN = 1 << 10  # level-1 pieces start at multiples of this (every stride divides it)
# workspace names of a pieced stage's outputs: best, k, band best, band k
PIECE_BUFFERS = ("piece_best", "piece_k", "piece_band_best", "piece_band_k")


@dataclass(frozen=True)
class Stage:
    """One view of a coarse-channel block: a boxcar of ``width`` channels every ``hop``
    channels (1, 1: the raw data), spectra ``t0`` .. ``t0 + n_rows - 1``, searching
    |drift| in [drift_lo, drift_hi] Hz/s."""

    width: int
    hop: int
    t0: int
    n_rows: int
    drift_lo: float
    drift_hi: float

    @property
    def source(self) -> str:
        return DEDOPPLER if self.width == 1 else MATCHED_FILTER


@dataclass
class SearchResult:
    """Hits of a whole observation; ``timings`` in seconds per step (plus counters)."""

    raw_hits: list[Hit] = field(default_factory=list)
    filtered_hits: list[Hit] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def plan_stages(n_rows: int, nfpc: int, header: ObservationHeader,
                params: SearchParams) -> list[Stage]:
    """The stages searched on a ``(n_rows, nfpc)`` block."""
    lo, hi = params.min_drift, params.max_drift
    per_smear = header.df_hz / header.dt_s  # Hz/s per channel-per-spectrum
    if not params.matched_filter:
        return [Stage(1, 1, 0, n_rows, lo, hi)]
    # the plain tree at full resolution only where a tone is not smeared over more than
    # FULL_RES_SMEAR channels per spectrum; faster drifts: decimated matched filter
    n_tree = next_pow2(n_rows)
    full_smear = fused_smear = hi / per_smear
    if n_tree > 1:  # whole drift blocks only: the last full-resolution k is B (T2 - 1) - 1
        full_smear = (round(FULL_RES_SMEAR * (n_tree - 1)) - 0.5) / (n_tree - 1)
        fused_smear = (round(FUSED_SMEAR * (n_tree - 1)) - 0.5) / (n_tree - 1)
    full_hi = min(hi, full_smear * per_smear)
    stages = [Stage(1, 1, 0, n_rows, lo, full_hi)]  # empty when min_drift > full_hi
    excursion = hi * n_rows * header.dt_s / header.df_hz
    if excursion > nfpc / 8 and n_rows >= 2 * MIN_SEGMENT:
        seg = next_pow2(n_rows) // 2
        while seg >= MIN_SEGMENT:
            for t0 in range(0, n_rows, seg):
                rows = min(seg, n_rows - t0)
                if rows >= seg // 2 and rows < n_rows:
                    stages.append(Stage(1, 1, t0, rows, lo, hi))
            seg //= 2
    if n_rows < 2:
        return stages
    max_smear = max_smear_channels(hi, header.dt_s, header.df_hz)
    for band in smear_bands(max_smear, nfpc, fused_smear) + wide_bands(nfpc):
        b_lo = max(lo, band.smear_lo * per_smear)
        b_hi = min(hi, band.smear_hi * per_smear)
        if b_lo <= b_hi:
            stages.append(Stage(band.width, band.hop, 0, n_rows, b_lo, b_hi))
    return _merge_touching(stages)


def _merge_touching(stages: list[Stage]) -> list[Stage]:
    """One stage per view and contiguous drift range: a wide band and a smear band with
    the same boxcar whose drift ranges touch (within 5 %) are searched in one tree pass."""
    out: list[Stage] = []
    for st in stages:
        for i, prev in enumerate(out):
            if (st.width > 1 and (prev.width, prev.hop, prev.t0, prev.n_rows)
                    == (st.width, st.hop, st.t0, st.n_rows)
                    and st.drift_lo <= 1.05 * prev.drift_hi
                    and prev.drift_lo <= 1.05 * st.drift_hi):
                out[i] = Stage(st.width, st.hop, st.t0, st.n_rows,
                               min(prev.drift_lo, st.drift_lo), max(prev.drift_hi, st.drift_hi))
                break
        else:
            out.append(st)
    return out


StageResult = tuple  # (stage, hits, grid, pinned flags)


def _stage_grid(stage: Stage, header: ObservationHeader) -> DriftGrid:
    return DriftGrid.build(stage.n_rows, stage.hop * header.df_hz, header.dt_s,
                           stage.drift_hi, stage.drift_lo)


class StageViews:
    """Per-block sources of the stages' views, their time-summed spectra and noise
    statistics (each computed once, shared by stages searching the same view; the
    spectra themselves are dropped once their statistics are made).

    A boxcar view (width W every H channels, H a power of two) is never stored: it is
    searched as ``(source, per, stride)``, the source being level L of the block (pair-
    summed L times, g = 2**L the largest power of two dividing W and H), per = W / g,
    stride = H / g; the tree kernel builds the view chunk by chunk. The levels share one
    buffer of this thread's workspace, a quarter of the block: stages ask for their
    levels in ascending order (``search_coarse_channel``); level 2 is made there from the
    block and each higher level from the one below, in place. Level 1 (half the block)
    is never held whole: its stages are searched in ``LEVEL1_PIECES`` channel pieces
    (:func:`run_stage`), each made from the block into the same buffer. The time-summed
    spectrum of a view is the boxcar of the block's spectrum (the filter is linear), so
    whole-length views never need their own row sums."""

    def __init__(self, block: np.ndarray, spectrum: np.ndarray | None = None):
        self.block = block
        self._spectrum = spectrum
        self._held: tuple[int, np.ndarray] | None = None   # (level, array) in the buffer
        self._piece: tuple[int, int] | None = None  # (c0, m) of the level-1 piece there
        self.level1_reach = 0  # reach of level-1 pieces: the largest a stage needs
        self._stats: dict = {}

    @staticmethod
    def key(stage: Stage) -> tuple:
        return (stage.t0, stage.n_rows, stage.width, stage.hop)

    @staticmethod
    def level_of(stage: Stage) -> int:
        g, _, _ = boxcar_split(stage.width, stage.hop)
        return int(g).bit_length() - 1

    @property
    def full_spectrum(self) -> np.ndarray:
        if self._spectrum is None:
            self._spectrum = self.block.sum(axis=0)
        return self._spectrum

    @staticmethod
    def _buffer(size: int) -> np.ndarray:
        return workspace("level", size, np.float32)

    def level(self, lv: int) -> np.ndarray:
        """The block pair-summed ``lv`` times (channel i: sum of 2**lv channels; lv != 1),
        valid while no lower level or level-1 piece is asked for next (see the class doc)."""
        if lv == 0:
            return self.block
        if lv == 1:
            raise ValueError("level 1 is made in pieces: StageViews.level1_piece")
        if self._held is not None and self._held[0] == lv:
            return self._held[1]
        if self._held is not None and self._held[0] < lv:
            cur_lv, cur = self._held
        else:
            n_rows, n = self.block.shape
            cur_lv = 2
            cur = decimate_into(self.block, 4,
                                self._buffer(n_rows * (n >> 2)).reshape(n_rows, n >> 2))
        while cur_lv < lv:
            cur = pair_sum_in_place(cur, self._buffer(cur.size))
            cur_lv += 1
        self._held, self._piece = (lv, cur), None
        return cur

    def level1_windows(self, reach: int) -> list[tuple[int, int, int, int]]:
        """The level-1 pieces as ``(own_lo, own_hi, lo, hi)``: each owns level-1 channels
        ``own_lo`` .. ``own_hi - 1`` (the owned ranges partition level 1) and is made from
        ``lo`` to ``hi``, ``reach`` channels further where it does not end at an edge of
        the band (``lo`` a multiple of PIECE_ALIGN, so every stride divides it). One
        piece, the whole level, for narrow blocks. The piece held now comes first, so
        consecutive stages share it."""
        n1 = self.block.shape[1] // 2
        count = LEVEL1_PIECES if n1 >= MIN_PIECED_CHANNELS else 1
        cuts = [n1 * p // count for p in range(count + 1)]
        out = [(a, b, 0 if a == 0 else max(0, (a - reach) // PIECE_ALIGN * PIECE_ALIGN),
                n1 if b == n1 else min(n1, b + reach)) for a, b in zip(cuts[:-1], cuts[1:])]
        return sorted(out, key=lambda w: (w[2], w[3] - w[2]) != self._piece)

    def level1_piece(self, c0: int, m: int) -> np.ndarray:
        """Level-1 channels ``c0`` .. ``c0 + m - 1`` (block channels ``2 c0`` ..
        ``2 (c0 + m) - 1`` pair-summed), float32 (n_spectra, m) in the level buffer
        (kept there until another piece or level is asked for)."""
        n_rows = self.block.shape[0]
        out = self._buffer(n_rows * m).reshape(n_rows, m)
        if self._piece != (c0, m):
            self._held, self._piece = None, None
            pair_sum_columns_into(self.block, 2 * c0, out)
            self._piece = (c0, m)
        return out

    def spectrum(self, stage: Stage) -> np.ndarray:
        """The time-summed spectrum of ``stage``'s view (made anew at each call)."""
        if stage.t0 == 0 and stage.n_rows == self.block.shape[0]:
            spec = self.full_spectrum
            if stage.width > 1 or stage.hop > 1:
                spec = boxcar(spec[None, :], stage.width, stage.hop)[0]
            return spec
        rows = self.block[stage.t0:stage.t0 + stage.n_rows]
        return boxcar(rows.sum(axis=0)[None, :], stage.width, stage.hop)[0]

    def stats(self, stage: Stage) -> tuple[float, float]:
        """Noise statistics of ``stage``'s view, kept per view (its spectrum is not)."""
        key = self.key(stage)
        if key not in self._stats:
            self._stats[key] = spectrum_stats(self.spectrum(stage))
        return self._stats[key]


def run_stage(block: np.ndarray, stage: Stage, header: ObservationHeader,
              params: SearchParams, coarse_channel: int, channel_offset: int,
              fused: list[Stage] | tuple = (), views: StageViews | None = None
              ) -> list[StageResult]:
    """Search one stage of a float32 ``(n_spectra, nfpc)`` block.

    ``fused``: full-resolution boxcar stages (hop 1, same spectra) computed in the same
    tree pass (see ``taylor._max_over_drift_py``). ``views``: a cache shared by the stages
    of one block. Returns one (stage, raw hits, drift grid, pinned flags) per stage; a hit
    is "pinned" when it sits on an inner edge of its stage's drift range.
    """
    views = views if views is not None else StageViews(block)
    _, per, stride = (int(x) for x in boxcar_split(stage.width, stage.hop))
    lv = views.level_of(stage)
    n_view = max(0, ((block.shape[1] >> lv) - per) // stride + 1)
    grid = _stage_grid(stage, header)
    if stage.width == 1 and grid.n_tree > 1:
        # the plain tree searches only the unsmeared drifts, but its raw hits keep
        # turboSETI's suppression window 2 * ceil(max_drift / r) (docs/signals.md)
        full = DriftGrid.build(stage.n_rows, header.df_hz, header.dt_s, params.max_drift)
        grid = replace(grid, window=full.window)
    if n_view == 0:
        return [(stage, [], grid, [])]
    grids = [_stage_grid(f, header) for f in fused]
    bands = [(f.width, g.k_min, g.k_max) for f, g in zip(fused, grids)]
    if lv == 1:
        best, best_k, band_results = _pieced_max_over_drift(views, stage, grid, bands, per,
                                                            stride, n_view)
    else:
        src = views.level(lv)[stage.t0:stage.t0 + stage.n_rows]
        best, best_k, band_results = _max_over_drift(src, grid, bands, (per, stride),
                                                     reuse=True)
    out = [(stage, *_stage_hits(best, best_k, views.stats(stage), stage, grid, header,
                                params, coarse_channel, channel_offset))]
    for f, g, (b_best, b_k) in zip(fused, grids, band_results):
        n = max(0, n_view - f.width + 1)
        out.append((f, *_stage_hits(b_best[:n], b_k[:n], views.stats(f), f, g,
                                    header, params, coarse_channel, channel_offset)))
    return out


def level1_reach(stage: Stage, grid: DriftGrid, bands) -> int:
    """Level-1 channels a search of ``stage`` reads beyond those of the view channels it
    reports: a path from view channel c reads channels c - k .. c + k (k <= k_max +
    n_tree), a fused band its width more; view channel i sums ``per`` level-1 channels
    from i * ``stride``."""
    _, per, stride = boxcar_split(stage.width, stage.hop)
    k = grid.k_max + grid.n_tree + max((int(b[0]) for b in bands), default=0)
    return int(k * stride + per)


def _pieced_max_over_drift(views: StageViews, stage: Stage, grid: DriftGrid, bands,
                           per: int, stride: int, n_view: int):
    """``_max_over_drift`` of a level-1 stage's ``n_view`` view channels, searched piece
    by piece (``StageViews.level1_windows``), each piece a window of level 1 made from
    the block: the same sums as one search of the whole level. A piece keeps the view
    channels whose first level-1 channel it owns; it reaches far enough beyond them
    (:func:`level1_reach`) that their paths never see its edges, except at the band's
    edges, where the piece ends as the whole level does. Outputs in this thread's
    workspace."""
    reach = max(views.level1_reach, level1_reach(stage, grid, bands))
    best, best_k, band_best, band_k = output_workspace(PIECE_BUFFERS, n_view, len(bands))
    for own_lo, own_hi, lo, hi in views.level1_windows(reach):
        v0, v1 = -(-own_lo // stride), min(n_view, -(-own_hi // stride))
        if v0 >= v1:
            continue
        piece = views.level1_piece(lo, hi - lo)
        b, k, b_res = _max_over_drift(piece[stage.t0:stage.t0 + stage.n_rows], grid, bands,
                                      (per, stride), reuse=True)
        off = lo // stride
        best[v0:v1] = b[v0 - off:v1 - off]
        best_k[v0:v1] = k[v0 - off:v1 - off]
        for m, (bb, bk) in enumerate(b_res):
            band_best[m, v0:v1] = bb[v0 - off:v1 - off]
            band_k[m, v0:v1] = bk[v0 - off:v1 - off]
        del piece  # a larger next piece then replaces this one's buffer, not adds to it
    return best, best_k, [(band_best[m], band_k[m]) for m in range(len(bands))]


def _stage_hits(best, best_k, stats, stage: Stage, grid: DriftGrid, header, params,
                coarse_channel: int, channel_offset: int):
    """Raw hits of one stage from its per-channel maxima: (hits, grid, pinned flags)."""
    snr = to_snr(best, *stats, out=best)  # best is scratch: S/N in place
    idx = top_hits(snr, params.snr, grid.window)
    hits, pinned = [], []
    inner_lo = grid.k_min > 0 and stage.drift_lo > params.min_drift
    inner_hi = stage.drift_hi < params.max_drift
    for i in idx:
        k = int(best_k[i])
        pinned.append((inner_lo and abs(k) == grid.k_min) or (inner_hi and abs(k) == grid.k_max))
        slope = stage.hop * grid.channels_per_spectrum(k)  # fine channels / spectrum
        c_start = i * stage.hop + (stage.width - 1) / 2.0
        c_t0 = c_start - slope * stage.t0 + channel_offset
        hits.append(Hit(
            frequency_hz=header.channel_frequency_hz(c_t0),
            drift_rate=header.drift_rate_for(slope),
            snr=float(snr[i]),
            channel_index=int(round(c_t0)),
            coarse_channel=int(coarse_channel),
            bandwidth_hz=header.df_hz * stage.width,
            drift_index=k,
            boxcar_width=stage.width,
            source=stage.source,
            start_time_mjd=float(header.tstart),
            spectrum_start=stage.t0,
            spectrum_count=stage.n_rows,
        ))
    return hits, grid, pinned


def _group_stages(stages: list[Stage], n_rows: int) -> list[tuple[Stage, list[Stage]]]:
    """Attach full-resolution boxcar stages to the plain full-length stage (one pass)."""
    main = stages[0]
    fusable = [s for s in stages[1:] if s.hop == 1 and s.t0 == 0 and s.n_rows == n_rows
               and next_pow2(n_rows) > 2 and s.drift_hi <= main.drift_hi
               and s.drift_lo >= main.drift_lo]
    rest = [s for s in stages[1:] if s not in fusable]
    return [(main, fusable)] + [(s, []) for s in rest]


def search_coarse_channel(data: np.ndarray, header: ObservationHeader,
                          params: SearchParams | None = None, coarse_channel: int = 0,
                          channel_offset: int = 0, timings: dict | None = None,
                          coarse_start: int | None = None, coarse_nfpc: int | None = None,
                          in_place: bool = False) -> tuple[list[Hit], list[Hit]]:
    """Both detectors on one ``(n_spectra, n_channels)`` block whose first column is file
    channel ``channel_offset``. Returns ``(raw_hits, filtered_hits)``.

    The block is normally one whole coarse channel. When it is a sub-block (a window of a
    coarse channel too large for memory), ``coarse_start`` (file channel where the coarse
    channel begins) and ``coarse_nfpc`` (its width) locate the DC bin and the band edges;
    they default to ``channel_offset`` and the block width.

    With ``params.baseline`` (the default) the block's spectral baseline is removed first
    (``baseline.flatten_block``: bandpass, DC spike, broadband features; unit local noise).
    ``in_place=True`` lets the search work in the caller's float32 C-contiguous array
    (no copy of the block): it is flattened there and given back afterwards, equal to
    the input to float32 rounding (~1e-7 relative). Otherwise the search works on a copy.

    ``timings`` (optional dict) accumulates seconds under ``baseline_s``, ``dedoppler_s``
    (the tree pass, including the full-resolution boxcars fused into it),
    ``matched_filter_s`` (decimated boxcar stages) and ``filter_s``, and counts under
    ``dc_channels_blanked`` and ``broadband_features``.
    """
    params = params or SearchParams()
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ParameterError(parameter="data", expected="a 2-D array (n_spectra, n_channels)",
                             got=f"shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ParameterError(parameter="data",
                             expected="at least one spectrum and one channel",
                             got=f"shape {arr.shape}")
    if not (header.df_hz > 0 and header.dt_s > 0):
        raise ParameterError(parameter="header", expected="foff != 0 and tsamp > 0",
                             got=f"foff={header.foff}, tsamp={header.tsamp}")
    usable = arr.dtype == np.float32 and arr.flags.c_contiguous and arr.flags.writeable
    block = arr if usable and in_place else np.array(arr, dtype=np.float32, order="C")
    timings = timings if timings is not None else {}
    n_rows, nfpc = block.shape
    coarse_start = channel_offset if coarse_start is None else int(coarse_start)
    coarse_nfpc = nfpc if coarse_nfpc is None else int(coarse_nfpc)

    t = time.perf_counter()
    features: list[Hit] = []   # one hit per broadband feature of the baseline
    feats: list = []           # those features (column ranges) themselves
    if params.baseline:
        dc = coarse_start + coarse_nfpc // 2 - channel_offset if params.blank_dc else None
        flat = flatten_block(block, header.df_hz, dc_column=dc,
                             always_blank_dc=params.blank_dc and is_bl_like(coarse_nfpc))
        feats = flat.features
        features = _feature_hits(flat, header, coarse_channel, channel_offset)
        timings["dc_channels_blanked"] = (timings.get("dc_channels_blanked", 0)
                                          + len(flat.dc_columns))
        timings["broadband_features"] = timings.get("broadband_features", 0) + len(features)
        blank = _restored(block, flat) if block is arr else contextlib.nullcontext(block)
        spectrum = flat.spectrum
    else:
        spectrum = None
        blank = dc_blanked(block, params.blank_dc)
    timings["baseline_s"] = timings.get("baseline_s", 0.0) + time.perf_counter() - t

    raw: list[Hit] = []
    pinned: list[bool] = []
    slopes: dict = {}
    with blank:
        views = StageViews(block, spectrum)
        groups = _group_stages(plan_stages(n_rows, nfpc, header, params), n_rows)
        views.level1_reach = max((level1_reach(st, _stage_grid(st, header), ())
                                  for st, _ in groups if StageViews.level_of(st) == 1),
                                 default=0)  # one set of level-1 pieces serves every stage
        # stages sharing a view run back to back (grouped by view, first-seen order) ...
        order = {}
        for stage, _ in groups:
            order.setdefault(StageViews.key(stage), len(order))
        groups.sort(key=lambda g: order[StageViews.key(g[0])])
        # ... and run in ascending pyramid level (StageViews holds one level at a time);
        # their hits are then taken in the order above
        results_of: dict[int, list] = {}
        level = 0
        for i in sorted(range(len(groups)), key=lambda i: StageViews.level_of(groups[i][0])):
            stage, fused = groups[i]
            if StageViews.level_of(stage) > level:  # views shrink: so do the outputs
                level = StageViews.level_of(stage)
                release_workspace(*OUTPUT_BUFFERS, *PIECE_BUFFERS)
            t = time.perf_counter()
            results_of[i] = run_stage(block, stage, header, params, coarse_channel,
                                      channel_offset, fused, views)
            key = "dedoppler_s" if stage.width == 1 else "matched_filter_s"
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - t
        for i in range(len(groups)):
            for st, hits, grid, pins in results_of.pop(i):
                slopes[(st.width, st.n_rows)] = max(
                    slopes.get((st.width, st.n_rows), 0.0),
                    st.hop * grid.channels_per_spectrum(1) if grid.n_tree > 1 else 0.0)
                raw.extend(hits)
                pinned.extend(pins)
        t = time.perf_counter()
        keep = [not is_artifact(h, header, coarse_nfpc, coarse_start, params.blank_dc)
                for h in raw]
        filtered = merge_hits([h for h, ok in zip(raw, keep) if ok], header, slopes,
                              [p for p, ok in zip(pinned, keep) if ok])
        refine_hits(filtered, block, header, channel_offset)
        if filtered:
            pixel_median = float(np.median(views.full_spectrum)) / n_rows
            for h in filtered:
                h.bandwidth_hz = estimate_bandwidth(h, block, header, channel_offset,
                                                    pixel_median)
        raw.extend(features)
        filtered = _merge_into_features(filtered, feats, features, header, channel_offset)
        filtered.extend(h for h in features if h.snr >= params.snr)
        filtered.sort(key=lambda h: h.frequency_hz)
        timings["filter_s"] = timings.get("filter_s", 0.0) + time.perf_counter() - t
    raw.sort(key=lambda h: (h.frequency_hz, h.boxcar_width))
    return raw, filtered


@contextlib.contextmanager
def _restored(block: np.ndarray, flat):
    """The flattened block for the ``with`` body, given back to the caller afterwards."""
    try:
        yield block
    finally:
        restore_block(block, flat)


def _merge_into_features(hits: list[Hit], feats, feature_hits: list[Hit],
                         header: ObservationHeader, channel_offset: int) -> list[Hit]:
    """Drop hits that sit on a broadband feature's edge over the whole observation (the
    residue of a step in the baseline), counting them in the feature's ``n_merged``."""
    if not feats:
        return hits
    kept = []
    for h in hits:
        c0, slope, first, last = hit_path(h, header)
        a = c0 + slope * first - channel_offset
        b = c0 + slope * last - channel_offset
        reach = EDGE_SHORT + 2 + 0.5 * h.boxcar_width
        owner = next((k for k, f in enumerate(feats)
                      if any(abs(a - e) <= reach and abs(b - e) <= reach
                             for e in (f.lo - 0.5, f.hi - 0.5))), None)
        if owner is None:
            kept.append(h)
        else:
            feature_hits[owner].n_merged += 1
    return kept


def _feature_hits(flat, header: ObservationHeader, coarse_channel: int,
                  channel_offset: int) -> list[Hit]:
    """One matched-filter hit per broadband feature of the baseline (boxcar = its width)."""
    out = []
    for f in flat.features:
        c_t0 = f.centre + channel_offset
        out.append(Hit(
            frequency_hz=header.channel_frequency_hz(c_t0),
            drift_rate=header.drift_rate_for(f.slope),
            snr=float(f.snr),
            channel_index=int(round(c_t0)),
            coarse_channel=int(coarse_channel),
            bandwidth_hz=header.df_hz * f.width,
            boxcar_width=int(f.width),
            source=MATCHED_FILTER,
            start_time_mjd=float(header.tstart),
        ))
    return out
