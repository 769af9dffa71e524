"""Searching a whole observation: coarse channels in parallel threads, memory bounded.

Plan (:func:`plan_search`): the band is split into coarse channels (the observation's own
split, or ``params.n_coarse_chan``). A coarse channel too large for the memory budget is
searched as overlapping *sub-blocks* of channels: each sub-block *owns* a contiguous
range of the coarse channel (the owned ranges partition it) and reaches ``overlap``
channels further on both sides, more than a drifting signal's whole track
(``max_drift * n_spectra * dt / df`` channels), the top-hit suppression window and the
search's local context, so every signal inside the coarse channel is searched whole in
the sub-block that owns the middle of its track. Only hits whose track midpoint (channel
at the middle of the hit's spectra) lies in the owned range are kept: no duplicates.
Each sub-block is searched by ``search_coarse_channel(..., coarse_start=, coarse_nfpc=)``
so band edges and the DC bin stay those of the coarse channel.

Memory: ``memory_budget_mb`` (MiB) bounds the float32 data of the blocks in memory at
once: one per worker thread plus the one handed to the caller. A coarse channel is split
when it and the caller's block do not fit, into sub-blocks of at most ``SUB_BLOCK_MB``
(less when the budget demands), sized without regard to ``workers``, so the blocks
searched, hence the hits, never depend on the thread count; then as many workers run as
the budget holds. The search's working arrays come on top: measured, each block being
searched costs ``WORKING_FACTOR`` times its data in all (``SearchPlan.estimate_mb``).

Parallelism: threads, not processes. The search's heavy kernels are numba ``parallel``
kernels, which release the GIL (as does numpy on large arrays), so threads share the
open file and need no pickling. Each thread runs its kernels on ``n // workers`` numba
threads (n: numba's thread count in the calling thread, all cores by default). Blocks
are read in the calling thread (reads stay sequential); results are yielded in block
order, so hits are identical, in the same order, for any ``workers``.
numba's ``workqueue`` threading layer cannot run kernels from two threads at once; with
it the search falls back to one worker (logged).
"""
from __future__ import annotations

import logging
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
from numba import get_num_threads, set_num_threads, threading_layer

from ..jit import njit, prange
from .filtering import hit_path
from .hit import Hit
from .params import ParameterError, SearchParams
from .run import SearchResult, search_coarse_channel
from .taylor import release_workspace

logger = logging.getLogger("mitraseti.search")

DEFAULT_MEMORY_BUDGET_MB = 512.0
# peak memory of one block's search, in units of its float32 data (in place; +1 when the
# search copies the block): measured 2.6 (one thread) and 2.1 (two) for 16 x 2**20 blocks
# (benchmarks/bench_memory.py: peak RSS less the imports' = (factor * threads + 1) blocks)
WORKING_FACTOR = 2.6
CONTEXT_CHANNELS = 512    # sub-block overlap beyond the drift terms (boxcars, noise windows)
MIN_OWNED_CHANNELS = 256  # a sub-block owns at least this many channels (budget permitting)
SUB_BLOCK_MB = 64.0       # sub-blocks hold at most this much data (one BL 16 x 2**20 block)


@dataclass(frozen=True)
class BlockSpec:
    """One searched block: file channels ``start`` .. ``stop - 1`` of coarse channel
    ``coarse_channel`` (file channels ``coarse_start`` .. ``+ coarse_nfpc - 1``), owning
    channels ``own_start`` .. ``own_stop - 1`` (the whole block for an unsplit coarse
    channel). ``index`` / ``count``: position among the coarse channel's blocks."""

    coarse_channel: int
    coarse_start: int
    coarse_nfpc: int
    start: int
    stop: int
    own_start: int
    own_stop: int
    index: int = 0
    count: int = 1

    @property
    def width(self) -> int:
        return self.stop - self.start

    @property
    def last(self) -> bool:
        return self.index == self.count - 1

    def owns(self, hit: Hit, header) -> bool:
        """True when ``hit``'s track midpoint lies in the owned range (the first and last
        blocks of a coarse channel also own whatever lies beyond its edges)."""
        if self.count == 1:
            return True
        c0, slope, first, last = hit_path(hit, header)
        mid = c0 + slope * 0.5 * (first + last)
        lo = -math.inf if self.index == 0 else self.own_start - 0.5
        hi = math.inf if self.last else self.own_stop - 0.5
        return lo <= mid < hi


@dataclass(frozen=True)
class SearchPlan:
    """Blocks to search, in order; ``workers`` threads; ``overlap`` channels each side of
    a sub-block's owned range; ``budget_mb``, ``data_mb`` (largest float32 data in memory
    at once, MiB) and ``estimate_mb`` (with the search's working arrays)."""

    blocks: tuple[BlockSpec, ...]
    n_coarse: int
    nfpc: int
    workers: int
    overlap: int
    budget_mb: float
    data_mb: float
    estimate_mb: float
    note: str = ""

    def to_dict(self) -> dict:
        return {"n_blocks": len(self.blocks), "workers": self.workers,
                "max_block_channels": max(b.width for b in self.blocks),
                "overlap_channels": self.overlap, "memory_budget_mb": self.budget_mb,
                "data_mb": round(self.data_mb, 1),
                "memory_estimate_mb": round(self.estimate_mb, 1), "note": self.note}


@dataclass
class BlockResult:
    """One searched block: ``block`` (float32 (n_spectra, width), the data searched), its
    owned raw and filtered hits, and the search's ``timings``."""

    spec: BlockSpec
    block: np.ndarray
    raw_hits: list[Hit]
    filtered_hits: list[Hit]
    timings: dict


@dataclass
class ObservationSearch(SearchResult):
    """A SearchResult plus ``coarse_channels`` ({n, nfpc, source}) and ``plan``
    (SearchPlan.to_dict())."""

    coarse_channels: dict = field(default_factory=dict)
    plan: dict = field(default_factory=dict)


def check_workers(workers) -> int:
    """``workers`` as a positive int; None: numba's thread count for this thread (all
    cores, unless NUMBA_NUM_THREADS or a caller such as a batch run lowered it)."""
    if workers is None:
        return max(1, get_num_threads())
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ParameterError(parameter="workers", expected="a positive integer", got=workers)
    return int(workers)


def check_budget(memory_budget_mb) -> float:
    if (isinstance(memory_budget_mb, bool) or not isinstance(memory_budget_mb, (int, float))
            or not math.isfinite(memory_budget_mb) or memory_budget_mb <= 0):
        raise ParameterError(parameter="memory_budget_mb", expected="a positive number of MiB",
                             got=memory_budget_mb)
    return float(memory_budget_mb)


def overlap_channels(header, params: SearchParams) -> int:
    """Channels a sub-block reaches beyond its owned range: 3x the largest drift
    excursion (half a track, the top-hit suppression window of two excursions) plus
    CONTEXT_CHANNELS."""
    excursion = math.ceil(params.max_drift * header.n_spectra * header.dt_s / header.df_hz)
    return 3 * excursion + CONTEXT_CHANNELS


def _coarse_split(obs, params: SearchParams) -> tuple[int, int]:
    header = obs.header
    n = params.n_coarse_chan or obs.n_coarse_channels
    if header.nchans % n:
        raise ParameterError(f"n_coarse_chan={n} does not divide nchans={header.nchans} of "
                             f"{obs.path}", parameter="n_coarse_chan",
                             expected=f"a divisor of nchans ({header.nchans})", got=n)
    return n, header.nchans // n


def plan_search(obs, params: SearchParams | None = None,
                memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
                workers: int | None = None, in_place: bool = True) -> SearchPlan:
    """The blocks and thread count for searching ``obs`` within ``memory_budget_mb``
    (``in_place``: as for :func:`iter_search`, for the memory estimate)."""
    params = params or SearchParams()
    budget = check_budget(memory_budget_mb) * 2**20
    workers = check_workers(workers)
    header = obs.header
    n_coarse, nfpc = _coarse_split(obs, params)
    col = header.n_spectra * 4  # bytes per channel of a float32 block
    overlap = overlap_channels(header, params)
    note = ""
    width = nfpc
    if 2 * nfpc * col > budget:  # sub-blocks: one searched plus the caller's must fit, at
        # most SUB_BLOCK_MB each, owning >= MIN_OWNED_CHANNELS (never set by ``workers``,
        # so the hits do not depend on the thread count)
        width = int(min(budget / 2, SUB_BLOCK_MB * 2**20) / col)
        if width - 2 * overlap < MIN_OWNED_CHANNELS:
            width = 2 * overlap + MIN_OWNED_CHANNELS
            note = (f"memory budget {budget / 2**20:g} MiB is below two sub-blocks of "
                    f"{width} channels x {header.n_spectra} spectra; using that")
    blocks = []
    for i in range(n_coarse):
        blocks.extend(_coarse_blocks(i, i * nfpc, nfpc, width, overlap))
    data = max(b.width for b in blocks) * col
    workers = max(1, min(workers, int(budget // data) - 1, len(blocks)))
    factor = WORKING_FACTOR + (0 if in_place else 1)
    estimate = (factor * workers + 1) * data / 2**20
    return SearchPlan(tuple(blocks), n_coarse, nfpc, workers, overlap, budget / 2**20,
                      (workers + 1) * data / 2**20, estimate, note)


def _coarse_blocks(i: int, c0: int, nfpc: int, width: int, overlap: int) -> list[BlockSpec]:
    """Coarse channel ``i`` as one block, or sub-blocks of <= ``width`` channels with
    balanced owned ranges."""
    if nfpc <= width:
        return [BlockSpec(i, c0, nfpc, c0, c0 + nfpc, c0, c0 + nfpc)]
    n = -(-nfpc // (width - 2 * overlap))
    edges = [c0 + (k * nfpc) // n for k in range(n + 1)]
    return [BlockSpec(i, c0, nfpc, max(c0, lo - overlap), min(c0 + nfpc, hi + overlap),
                      lo, hi, k, n)
            for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]




@njit(parallel=True, cache=True)
def _touch_threading_layer(a):
    for i in prange(a.size):
        a[i] = i


def _threads_can_share_kernels() -> bool:
    """False when numba's threading layer (chosen at the first parallel launch) is
    workqueue, which aborts when two threads launch kernels at once."""
    try:
        layer = threading_layer()
    except ValueError:  # no parallel kernel has run yet: launch one
        _touch_threading_layer(np.zeros(2))
        layer = threading_layer()
    return layer != "workqueue"


def _search_block(block, spec: BlockSpec, header, params, kernel_threads: int,
                  in_place: bool, last: bool = False):
    """Worker: search one block, keep the hits it owns. Returns (raw, filtered, timings).
    ``last``: the plan's last block, after which this thread's working arrays are freed
    (kept between blocks, they would otherwise stay while the caller classifies and
    exports the last one)."""
    previous = get_num_threads()
    set_num_threads(kernel_threads)  # per thread in numba
    timings: dict = {}
    try:
        raw, filt = search_coarse_channel(
            block, header, params, coarse_channel=spec.coarse_channel,
            channel_offset=spec.start, timings=timings, coarse_start=spec.coarse_start,
            coarse_nfpc=spec.coarse_nfpc, in_place=in_place)
    finally:
        set_num_threads(previous)
        if last:
            release_workspace()
    if spec.count > 1:
        raw = [h for h in raw if spec.owns(h, header)]
        filt = [h for h in filt if spec.owns(h, header)]
    return list(raw), list(filt), timings


def iter_search(obs, params: SearchParams | None = None, plan: SearchPlan | None = None,
                timings: dict | None = None, in_place: bool = True) -> Iterator[BlockResult]:
    """Search ``obs`` block by block (``plan``: default ``plan_search(obs, params)``),
    yielding BlockResults in plan order. The caller may use each block until it asks for
    the next one. ``in_place``: the search works in the block itself (no copy;
    ``search_coarse_channel`` gives it back equal to the data read to float32 rounding),
    else on a copy (one more block per worker). ``timings`` (optional dict) accumulates
    ``read_s`` (reading, this thread), ``wait_s`` (this thread waiting for searches) and
    the searches' own keys summed over blocks (thread time: they overlap when
    workers > 1)."""
    params = params or SearchParams()
    plan = plan or plan_search(obs, params, in_place=in_place)
    timings = timings if timings is not None else {}
    for key in ("read_s", "wait_s"):
        timings.setdefault(key, 0.0)
    workers = plan.workers
    if workers > 1 and not _threads_can_share_kernels():
        logger.warning("numba's workqueue threading layer cannot run kernels in parallel "
                       "threads: searching with one worker")
        workers = 1
    kernel_threads = max(1, get_num_threads() // workers)  # numba threads per worker
    header = obs.header
    specs = iter(plan.blocks)
    pending: deque = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mitraseti-search")

    def submit_next() -> bool:
        spec = next(specs, None)
        if spec is None:
            return False
        t = time.perf_counter()
        block = obs.read(0, header.n_spectra, spec.start, spec.stop)
        timings["read_s"] += time.perf_counter() - t
        pending.append((spec, block, pool.submit(_search_block, block, spec, header,
                                                 params, kernel_threads, in_place,
                                                 spec is plan.blocks[-1])))
        return True

    try:
        while len(pending) < workers and submit_next():
            pass
        while pending:
            spec, block, future = pending.popleft()
            t = time.perf_counter()
            raw, filt, block_timings = future.result()
            timings["wait_s"] += time.perf_counter() - t
            for key, value in block_timings.items():
                timings[key] = timings.get(key, 0) + value
            yield BlockResult(spec, block, raw, filt, block_timings)
            del block
            submit_next()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def search_observation(obs, params: SearchParams | None = None,
                       progress: Callable[[int, int], None] | None = None, *,
                       memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
                       workers: int | None = None) -> ObservationSearch:
    """Search every coarse channel of an open ``mitraseti.io.Observation`` (see the
    module doc for memory and threads). ``params.n_coarse_chan``, when given, re-splits
    the band (it must divide nchans). ``progress(done, total)`` is called after each
    coarse channel. Timings: ``read_s``, ``wait_s``, the search's stage sums, ``total_s``,
    ``n_coarse_channels``, ``n_blocks``, ``workers``."""
    params = params or SearchParams()
    plan = plan_search(obs, params, memory_budget_mb, workers)
    if plan.note:
        logger.warning("%s: %s", getattr(obs, "path", "?"), plan.note)
    coarse = getattr(obs, "coarse", None)
    if params.n_coarse_chan and params.n_coarse_chan != obs.n_coarse_channels or coarse is None:
        record = {"n": plan.n_coarse, "nfpc": plan.nfpc, "source": "parameter n_coarse_chan"}
    else:
        record = coarse.to_dict()
    result = ObservationSearch(coarse_channels=record, plan=plan.to_dict())
    timings = {"read_s": 0.0, "dedoppler_s": 0.0, "matched_filter_s": 0.0, "filter_s": 0.0}
    t_all = time.perf_counter()
    for item in iter_search(obs, params, plan, timings):
        result.raw_hits.extend(item.raw_hits)
        result.filtered_hits.extend(item.filtered_hits)
        if progress is not None and item.spec.last:
            progress(item.spec.coarse_channel + 1, plan.n_coarse)
    timings["total_s"] = time.perf_counter() - t_all
    timings.update(n_coarse_channels=float(plan.n_coarse), n_blocks=float(len(plan.blocks)),
                   workers=float(plan.workers))
    result.timings = timings
    logger.info("search of %s: %d raw, %d filtered hits in %.2f s (%d blocks, %d workers)",
                getattr(obs, "path", "?"), len(result.raw_hits), len(result.filtered_hits),
                timings["total_s"], len(plan.blocks), plan.workers)
    return result
