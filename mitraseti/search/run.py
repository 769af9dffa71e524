"""Search drivers: one coarse channel, or a whole observation.

A coarse-channel search runs several *stages*, each a Taylor-tree search of one view of
the block, with its own drift grid and its own noise statistics:

* the plain tree on the full block (``source = "dedoppler"``, boxcar 1);
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

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..io.header import ObservationHeader
from .drift_grid import DriftGrid, next_pow2
from .filtering import dc_blanked, estimate_bandwidth, is_artifact, merge_hits
from .hit import DEDOPPLER, MATCHED_FILTER, Hit
from .hitsearch import top_hits
from .matched_filter import boxcar, max_smear_channels, smear_bands, wide_bands
from .params import ParameterError, SearchParams
from .snr import spectrum_stats, to_snr
from .taylor import max_over_drift

logger = logging.getLogger("mitraseti.search")

MIN_SEGMENT = 16


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
    stages = [Stage(1, 1, 0, n_rows, lo, hi)]
    if not params.matched_filter:
        return stages
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
    per_smear = header.df_hz / header.dt_s  # Hz/s per channel-per-spectrum
    max_smear = max_smear_channels(hi, header.dt_s, header.df_hz)
    for band in smear_bands(max_smear, nfpc) + wide_bands(nfpc):
        b_lo = max(lo, band.smear_lo * per_smear)
        b_hi = min(hi, band.smear_hi * per_smear)
        if b_lo <= b_hi:
            stages.append(Stage(band.width, band.hop, 0, n_rows, b_lo, b_hi))
    return stages


StageResult = tuple  # (stage, hits, grid, pinned flags)


def _stage_grid(stage: Stage, header: ObservationHeader) -> DriftGrid:
    return DriftGrid.build(stage.n_rows, stage.hop * header.df_hz, header.dt_s,
                           stage.drift_hi, stage.drift_lo)


def run_stage(block: np.ndarray, stage: Stage, header: ObservationHeader,
              params: SearchParams, coarse_channel: int, channel_offset: int,
              fused: list[Stage] | tuple = ()) -> list[StageResult]:
    """Search one stage of a float32 ``(n_spectra, nfpc)`` block.

    ``fused``: full-resolution boxcar stages (hop 1, same spectra) computed in the same
    tree pass (see ``taylor._max_over_drift_py``). Returns one (stage, raw hits, drift
    grid, pinned flags) per stage; a hit is "pinned" when it sits on an inner edge of its
    stage's drift range.
    """
    view = block[stage.t0:stage.t0 + stage.n_rows]
    if stage.width > 1 or stage.hop > 1:
        view = boxcar(view, stage.width, stage.hop)
    grid = _stage_grid(stage, header)
    if view.shape[1] == 0:
        return [(stage, [], grid, [])]
    grids = [_stage_grid(f, header) for f in fused]
    bands = [(f.width, g.k_min, g.k_max) for f, g in zip(fused, grids)]
    best, best_k, band_results = max_over_drift(view, grid, bands)
    spectrum = view.sum(axis=0)
    out = [(stage, *_stage_hits(best, best_k, spectrum_stats(spectrum), stage, grid, header,
                                params, coarse_channel, channel_offset))]
    for f, g, (b_best, b_k) in zip(fused, grids, band_results):
        filtered = boxcar(spectrum[None, :], f.width, 1)[0]
        n = filtered.shape[0]
        out.append((f, *_stage_hits(b_best[:n], b_k[:n], spectrum_stats(filtered), f, g,
                                    header, params, coarse_channel, channel_offset)))
    return out


def _stage_hits(best, best_k, stats, stage: Stage, grid: DriftGrid, header, params,
                coarse_channel: int, channel_offset: int):
    """Raw hits of one stage from its per-channel maxima: (hits, grid, pinned flags)."""
    snr = to_snr(best, *stats)
    idx = top_hits(snr, params.snr, grid.window)
    hits, pinned = [], []
    foff_hz = header.foff * 1e6
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
            drift_rate=slope * foff_hz / header.dt_s,
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
                          channel_offset: int = 0, timings: dict | None = None
                          ) -> tuple[list[Hit], list[Hit]]:
    """Both detectors on one ``(n_spectra, nfpc)`` block whose first column is file
    channel ``channel_offset``. Returns ``(raw_hits, filtered_hits)``.

    ``timings`` (optional dict) accumulates seconds under ``dedoppler_s`` (the tree pass,
    including the full-resolution boxcars fused into it), ``matched_filter_s`` (decimated
    boxcar stages) and ``filter_s``.
    """
    params = params or SearchParams()
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ParameterError(
            f"data must be 2-D (n_spectra, n_channels), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ParameterError(f"data must hold at least one spectrum and channel, got {arr.shape}")
    if not (header.df_hz > 0 and header.dt_s > 0):
        raise ParameterError(
            f"header needs foff != 0 and tsamp > 0, got foff={header.foff}, tsamp={header.tsamp}")
    block = arr if (arr.dtype == np.float32 and arr.flags.c_contiguous
                    and arr.flags.writeable) else np.array(arr, dtype=np.float32, order="C")
    timings = timings if timings is not None else {}
    n_rows, nfpc = block.shape
    raw: list[Hit] = []
    pinned: list[bool] = []
    slopes: dict = {}
    with dc_blanked(block, params.blank_dc):
        for stage, fused in _group_stages(plan_stages(n_rows, nfpc, header, params), n_rows):
            t = time.perf_counter()
            results = run_stage(block, stage, header, params, coarse_channel,
                                channel_offset, fused)
            key = "dedoppler_s" if stage.width == 1 else "matched_filter_s"
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - t
            for st, hits, grid, pins in results:
                slopes[(st.width, st.n_rows)] = max(
                    slopes.get((st.width, st.n_rows), 0.0),
                    st.hop * grid.channels_per_spectrum(1) if grid.n_tree > 1 else 0.0)
                raw.extend(hits)
                pinned.extend(pins)
        t = time.perf_counter()
        keep = [not is_artifact(h, header, nfpc, channel_offset, params.blank_dc) for h in raw]
        filtered = merge_hits([h for h, ok in zip(raw, keep) if ok], header, slopes,
                              [p for p, ok in zip(pinned, keep) if ok])
        if filtered:
            pixel_median = float(np.median(block.sum(axis=0, dtype=np.float64))) / n_rows
            for h in filtered:
                h.bandwidth_hz = estimate_bandwidth(h, block, header, channel_offset,
                                                    pixel_median)
        filtered.sort(key=lambda h: h.frequency_hz)
        timings["filter_s"] = timings.get("filter_s", 0.0) + time.perf_counter() - t
    raw.sort(key=lambda h: (h.frequency_hz, h.boxcar_width))
    return raw, filtered


def search_observation(obs, params: SearchParams | None = None,
                       progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Search every coarse channel of an open ``mitraseti.io.Observation``.

    Memory is bounded by one coarse channel. ``params.n_coarse_chan``, when given and
    different from the observation's own split, re-splits the band (it must divide nchans).
    ``progress(done, total)`` is called after each coarse channel.
    """
    params = params or SearchParams()
    header = obs.header
    result = SearchResult()
    timings = {"read_s": 0.0, "dedoppler_s": 0.0, "matched_filter_s": 0.0, "filter_s": 0.0}
    t_all = time.perf_counter()
    n_cc = params.n_coarse_chan or obs.n_coarse_channels
    if header.nchans % n_cc:
        raise ParameterError(
            f"n_coarse_chan={n_cc} does not divide nchans={header.nchans} of {obs.path}")
    nfpc = header.nchans // n_cc
    if n_cc == obs.n_coarse_channels:
        blocks = obs.iter_coarse_channels()
    else:
        blocks = ((i, obs.read(0, header.n_spectra, i * nfpc, (i + 1) * nfpc))
                  for i in range(n_cc))
    t = time.perf_counter()
    for i, block in blocks:
        timings["read_s"] += time.perf_counter() - t
        raw, filtered = search_coarse_channel(block, header, params, coarse_channel=i,
                                              channel_offset=i * nfpc, timings=timings)
        result.raw_hits.extend(raw)
        result.filtered_hits.extend(filtered)
        if progress is not None:
            progress(i + 1, n_cc)
        t = time.perf_counter()
    timings["total_s"] = time.perf_counter() - t_all
    timings["n_coarse_channels"] = float(n_cc)
    result.timings = timings
    logger.info("search of %s: %d raw, %d filtered hits in %.2f s", getattr(obs, "path", "?"),
                len(result.raw_hits), len(result.filtered_hits), timings["total_s"])
    return result
