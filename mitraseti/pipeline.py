"""The pipeline: ingest -> de-Doppler -> classify -> export, each stage timed (seconds).

``run(path, out_dir, ...)`` does it all in one pass over the file: every coarse channel is
read once, searched (``mitraseti.search.search_coarse_channel``), its filtered hits are
classified while the data are still in memory (``mitraseti.signals.classify_hits``), and the
display products (waterfall image, candidate stamps) are accumulated; memory stays bounded by
one coarse channel. The stage functions below let the pipeline notebook show one stage per
section; ``classify`` then reads back only the coarse channels that hold hits:

    state = ingest(path, n_coarse_chan=None, source_name=None)
    found = dedoppler(state, make_params(max_drift=4.0, snr=10.0))
    result = classify(state, found)
    outputs = export(result, out_dir)

``progress(stage, fraction, message)`` is called as work advances (raise from it to cancel).
:func:`mitraseti.notebooks.run_notebook` runs the same stages in ``notebooks/pipeline.ipynb``
through papermill and keeps ``report.ipynb`` + ``report.html``.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from mitraseti.export.result import STAGES, TOP_N, PipelineResult, is_candidate, rank_key
from mitraseti.export.stamps import StampKeeper
from mitraseti.export.waterfall import WaterfallAccumulator
from mitraseti.search import driver
from mitraseti.search.hit import Hit
from mitraseti.search.params import ParameterError, SearchParams
from mitraseti.signals.classify import classify_hits
from mitraseti.signals.model import ModelLoadError

log = logging.getLogger("mitraseti.pipeline")

ProgressFn = Callable[[str, float, str], None]

__all__ = ["Ingested", "PipelineResult", "SearchOutput", "ParameterError", "classify",
           "dedoppler", "export", "ingest", "make_params", "run", "warm_up"]


def _noop(stage: str, fraction: float, message: str) -> None:
    return None


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


def make_params(max_drift: float = 4.0, min_drift: float = 0.0, snr: float = 10.0,
                n_coarse_chan: int | None = None) -> SearchParams:
    """Validated search parameters (Hz/s, Hz/s, S/N); raises ParameterError naming the
    parameter. ``n_coarse_chan`` 0 or None means "from the file"."""
    if isinstance(n_coarse_chan, (int, np.integer)) and not isinstance(n_coarse_chan, bool):
        n_coarse_chan = int(n_coarse_chan) if n_coarse_chan != 0 else None
    return SearchParams(max_drift=max_drift, min_drift=min_drift, snr=snr,
                        n_coarse_chan=n_coarse_chan)


# ---- stage 1: ingest -----------------------------------------------------------------------
@dataclass
class Ingested:
    """An opened observation: ``obs`` (mitraseti.io.Observation), its ``header``,
    ``source_name`` (argument, else header, else file stem) and stage ``timings``."""

    obs: object
    path: Path
    source_name: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def header(self):
        return self.obs.header

    def close(self) -> None:
        self.obs.close()

    def __enter__(self) -> "Ingested":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def ingest(path, n_coarse_chan: int | None = None, source_name: str | None = None,
           progress: ProgressFn | None = None) -> Ingested:
    """Open ``path`` (.fil / .h5) and read its header. Raises ObservationFormatError
    (ObservationNotFoundError for a missing file) naming the file."""
    from mitraseti.io import open_observation

    progress = progress or _noop
    timings: dict[str, float] = {}
    if n_coarse_chan == 0:
        n_coarse_chan = None
    with _timed(timings, "ingest"):
        obs = open_observation(Path(path), n_coarse_chan=n_coarse_chan)
    name = str(source_name or obs.header.source_name or "").strip()
    if not name or name == "unknown":
        name = Path(path).stem
    try:
        progress("ingest", 1.0, f"opened {Path(path).name}: {obs.header.n_spectra} spectra x "
                                f"{obs.header.nchans} channels, {obs.n_coarse_channels} coarse")
    except BaseException:
        obs.close()
        raise
    return Ingested(obs=obs, path=Path(path), source_name=str(name), timings=timings)


# ---- stage 2: de-Doppler -------------------------------------------------------------------
@dataclass
class SearchOutput:
    """Hits of the de-Doppler stage (unclassified) plus the waterfall image built on the way."""

    header: object
    params: SearchParams
    raw_hits: list[Hit]
    filtered_hits: list[Hit]
    waterfall: object
    timings: dict[str, float]
    plan: object = None   # mitraseti.search.driver.SearchPlan: the blocks searched


def _searched_blocks(obs, params, plan, timings: dict[str, float]):
    """The search's BlockResults in order; reading is charged to ``ingest``, waiting for
    the search threads to ``dedoppler``; hits get the observation start time."""
    inner: dict[str, float] = {}
    seen = {"read_s": 0.0, "wait_s": 0.0}
    for item in driver.iter_search(obs, params, plan, inner):
        for key, stage in (("read_s", "ingest"), ("wait_s", "dedoppler")):
            timings[stage] = timings.get(stage, 0.0) + inner[key] - seen[key]
            seen[key] = inner[key]
        timings["dc_channels_blanked"] = inner.get("dc_channels_blanked", 0)
        for h in item.raw_hits + item.filtered_hits:
            if not h.start_time_mjd:
                h.start_time_mjd = float(obs.header.tstart)
        yield item


def _where(spec, plan) -> str:
    where = f"coarse channel {spec.coarse_channel + 1}/{plan.n_coarse}"
    return where if spec.count == 1 else f"{where} part {spec.index + 1}/{spec.count}"


def _draw(acc, item) -> None:
    """Fold the channels ``item`` owns into the waterfall image (overlaps drawn once)."""
    spec = item.spec
    acc.add(item.block[:, spec.own_start - spec.start:spec.own_stop - spec.start],
            spec.own_start)


def dedoppler(state: Ingested, params: SearchParams, progress: ProgressFn | None = None,
              memory_budget_mb: float | None = None, workers: int | None = None
              ) -> SearchOutput:
    """Search every coarse channel (both detectors); hits are not yet classified.
    ``memory_budget_mb`` / ``workers``: see mitraseti.search.driver (None: defaults)."""
    progress = progress or _noop
    obs, header = state.obs, state.header
    timings = state.timings
    plan = driver.plan_search(obs, params, _budget(memory_budget_mb), workers)
    acc = WaterfallAccumulator(header)
    raw_hits: list[Hit] = []
    filtered: list[Hit] = []
    n = len(plan.blocks)
    for k, item in enumerate(_searched_blocks(obs, params, plan, timings)):
        raw_hits += item.raw_hits
        filtered += item.filtered_hits
        with _timed(timings, "export"):
            _draw(acc, item)
        progress("dedoppler", (k + 1) / n,
                 f"{_where(item.spec, plan)}: {len(item.filtered_hits)} signals")
    return SearchOutput(header=header, params=params, raw_hits=raw_hits, filtered_hits=filtered,
                        waterfall=acc.result(), timings=timings, plan=plan)


def _budget(memory_budget_mb: float | None) -> float:
    return driver.DEFAULT_MEMORY_BUDGET_MB if memory_budget_mb is None else memory_budget_mb


# ---- stage 3: classify ---------------------------------------------------------------------
class _Classifier:
    """Calls ``mitraseti.signals.classify_hits`` on one block. When the trained model cannot
    be used (``ModelLoadError``: missing, tampered or stale file) the stage degrades: hits
    stay unlabelled and ``warning`` says why (it ends up in results.json, classified.json
    and the CLI output)."""

    def __init__(self) -> None:
        self.warning: str | None = None

    def __call__(self, hits, block, header, offset) -> None:
        if self.warning is not None:
            return
        try:
            classify_hits(hits, block, header, channel_offset=offset)
        except ModelLoadError as exc:
            self.warning = f"classification unavailable ({exc}); signals are unlabelled"


def _classify_block(classify_fn, keeper, hits, block, header, offset, timings):
    if hits:
        with _timed(timings, "classify"):
            classify_fn(hits, block, header, offset)
    with _timed(timings, "export"):
        for h in hits:
            if is_candidate(h):
                keeper.offer(h, block, header, offset)


def classify(state: Ingested, found: SearchOutput,
             progress: ProgressFn | None = None) -> PipelineResult:
    """Classify the filtered hits of ``found``, reading back each searched block (coarse
    channel or sub-block, ``found.plan``) that owns hits; cut stamps for the top
    candidates. Returns the PipelineResult (not yet exported)."""
    progress = progress or _noop
    obs, header, timings = state.obs, state.header, state.timings
    plan = found.plan or driver.plan_search(obs, found.params)
    classify_fn = _Classifier()
    keeper = StampKeeper(rank_key, TOP_N)
    by_block: dict[int, list[Hit]] = {}
    for h in found.filtered_hits:
        k = next(k for k, b in enumerate(plan.blocks)
                 if b.coarse_channel == int(h.coarse_channel) and b.owns(h, header))
        by_block.setdefault(k, []).append(h)
    for n, k in enumerate(sorted(by_block)):
        spec = plan.blocks[k]
        with _timed(timings, "classify"):
            block = obs.read(0, header.n_spectra, spec.start, spec.stop)
        _classify_block(classify_fn, keeper, by_block[k], block, header, spec.start, timings)
        progress("classify", (n + 1) / len(by_block), _where(spec, plan))
    timings.setdefault("classify", 0.0)
    return _result(state, found.params, found.raw_hits, found.filtered_hits,
                   found.waterfall, keeper, classify_fn.warning, plan)


def _result(state, params, raw, filtered, waterfall, keeper, warning, plan) -> PipelineResult:
    if warning:
        log.warning("%s: %s", state.path, warning)
    # the reader's warnings (header vs data disagreements) name the file already
    warnings = list(state.obs.warnings) + ([warning] if warning else [])
    timings = {s: state.timings.get(s, 0.0) for s in STAGES}
    return PipelineResult(
        path=state.path, header=state.header, params=params, source_name=state.source_name,
        raw_hits=raw, filtered_hits=filtered, timings=timings, warnings=warnings,
        waterfall=waterfall, stamps=keeper.stamps(), classified=warning is None,
        n_coarse_channels=plan.n_coarse, nfpc=plan.nfpc,
        coarse_channels=_coarse_record(state.obs, plan), search_plan=plan.to_dict(),
        baseline=_baseline_record(state.timings, filtered, state.header))


def _baseline_record(timings: dict, filtered, header) -> dict:
    """results.json ``baseline``: DC channels blanked, broadband features reported."""
    from mitraseti.search.broadband import BROADBAND_HZ

    broad = sum(1 for h in filtered if h.source == "matched_filter"
                and h.boxcar_width * header.df_hz >= BROADBAND_HZ)
    return {"dc_channels_blanked": int(timings.get("dc_channels_blanked", 0)),
            "broadband_features": int(broad)}


def _coarse_record(obs, plan) -> dict:
    """How the band was split: the observation's record, unless the search re-split it."""
    if plan.n_coarse == obs.n_coarse_channels:
        return obs.coarse.to_dict()
    return {"n": plan.n_coarse, "nfpc": plan.nfpc, "source": "parameter n_coarse_chan"}


# ---- stage 4: export -----------------------------------------------------------------------
def export(result: PipelineResult, out_dir, progress: ProgressFn | None = None
           ) -> dict[str, Path]:
    """Write every export into ``out_dir`` (see mitraseti.export); returns format -> path."""
    # imported here: the writers load astropy and matplotlib (~40 MiB), which the search
    # and classification never need, so they stay out of the memory peak of a search
    from mitraseti.export.writers import write_all

    progress = progress or _noop
    progress("export", 0.0, f"writing exports to {out_dir}")
    outputs = write_all(result, out_dir)
    progress("export", 1.0, f"{len(outputs)} files written to {out_dir}")
    return outputs


# ---- everything in one pass ----------------------------------------------------------------
def run(path, out_dir=None, *, max_drift: float = 4.0, min_drift: float = 0.0,
        snr: float = 10.0, n_coarse_chan: int | None = None, source_name: str | None = None,
        progress: ProgressFn | None = None, exports: bool = True,
        memory_budget_mb: float | None = None, workers: int | None = None) -> PipelineResult:
    """Run the whole pipeline on ``path`` and (``exports=True``) write every export into
    ``out_dir``. Drift rates in Hz/s. ``memory_budget_mb`` (MiB, None: 512) bounds the
    blocks in memory and their search working arrays; ``workers`` (None: all cores)
    search threads (see mitraseti.search.driver). Raises ParameterError for bad
    parameters and ObservationFormatError for unreadable files; both name what was wrong."""
    progress = progress or _noop
    params = make_params(max_drift, min_drift, snr, n_coarse_chan)
    if exports and out_dir is None:
        raise ParameterError("out_dir is required when exports=True", parameter="out_dir",
                             expected="a folder when exports=True", got=None)
    budget = driver.check_budget(_budget(memory_budget_mb))
    driver.check_workers(workers)
    classify_fn = _Classifier()
    with ingest(path, params.n_coarse_chan, source_name, progress) as state:
        obs, header, timings = state.obs, state.header, state.timings
        plan = driver.plan_search(obs, params, budget, workers)
        acc = WaterfallAccumulator(header)
        keeper = StampKeeper(rank_key, TOP_N)
        raw_hits: list[Hit] = []
        filtered: list[Hit] = []
        n = len(plan.blocks)
        # each block is classified (and drawn) in this thread, in order, while its data are
        # in memory; the search threads work ahead on the next blocks meanwhile
        for k, item in enumerate(_searched_blocks(obs, params, plan, timings)):
            where, raw, filt = _where(item.spec, plan), item.raw_hits, item.filtered_hits
            progress("dedoppler", (k + 1) / n, f"{where}: {len(raw)} raw hits, "
                                               f"{len(filt)} signals")
            _classify_block(classify_fn, keeper, filt, item.block, header, item.spec.start,
                            timings)
            with _timed(timings, "export"):
                _draw(acc, item)
            progress("classify", (k + 1) / n, f"{where} classified")
            raw_hits += raw
            filtered += filt
        item = None  # the last block is not kept through the exports (memory peak)
        result = _result(state, params, raw_hits, filtered, acc.result(), keeper,
                         classify_fn.warning, plan)
    if exports:
        export(result, out_dir, progress)
    return result


# ---- kernels that will run the notebook -----------------------------------------------------
def preload() -> float:
    """The part of :func:`warm_up` after which a process may still fork: import every
    module the pipeline notebook uses, load the shipped classifier and numba's registries
    (one small serial kernel), but start no numba thread pool (GNU OpenMP, numba's usual
    threading layer, kills a child forked after its threads started). The REST service's
    spare factory calls it once; each kernel it forks then runs :func:`warm_up`, whose
    small pipeline is all that is left to do there (~0.4 s). Returns its seconds."""
    t0 = time.perf_counter()
    import matplotlib.pyplot  # noqa: F401 - the notebook's figures

    from mitraseti.demo import make_demo_observation  # noqa: F401
    from mitraseti.export import images, report, writers  # noqa: F401 - the notebook's
    from mitraseti.io import describe  # noqa: F401
    from mitraseti.search.snr import spectrum_stats
    from mitraseti.signals.model import load_default

    load_default()
    spectrum_stats(np.linspace(0.0, 1.0, 64, dtype=np.float32))
    return time.perf_counter() - t0


def warm_up(n_coarse: int = 2, nfpc: int = 2 ** 16) -> dict[str, float]:
    """Make this process ready for a real job: :func:`preload`, then run all four stages
    once on a small seeded demo observation (``n_coarse`` coarse channels x ``nfpc`` fine
    channels, float32) in a temporary directory, so numba's compiled kernels are loaded
    from its on-disk cache and every export writer has run. The REST service's kernel pool
    calls it in each kernel it starts itself. Returns seconds per step: ``imports``,
    ``pipeline``, ``total``."""
    import tempfile

    from mitraseti.demo import make_demo_observation

    t0 = time.perf_counter()
    preload()
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mitraseti-warm-up-") as tmp:
        path, _ = make_demo_observation(tmp, n_coarse=n_coarse, nfpc=nfpc)
        with ingest(path, n_coarse_chan=n_coarse) as state:
            found = dedoppler(state, make_params())
            result = classify(state, found)
        export(result, Path(tmp) / "exports")
    t2 = time.perf_counter()
    return {"imports": t1 - t0, "pipeline": t2 - t1, "total": t2 - t0}
