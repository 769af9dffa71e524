"""Labelled training / evaluation examples, produced the way the pipeline sees them.

Each example is a small block (n_spectra x n_channels) with one injected signal whose
morphology follows the rules of docs/signals.md with a margin from every decision boundary
(stationary |drift| <= 1 r, drifting >= 2.5 r; chirp bend >= 1.3 x max(3 ch, width);
pulsed: >= 30 % of spectra off, >= 2 on-intervals, >= 4 on-spectra; broadband >= 700 Hz;
noise: power in <= 2 spectra or in one pixel). The hit is located as the pipeline locates
it: the real search (``mitraseti.search.search_coarse_channel``) reports
it, or, for a share of clean examples (the search dominates the cost), the best straight
line through the true path stands in for it; the features are then measured on the raw
block, so the classifier learns what the pipeline measures.

Examples come from ``mitraseti.synth`` (``random_signal``: rule-checked labels,
realistic chi2 / bandpass / gain / impulse noise), optionally through a random dirty
receiver (:mod:`.trainset_dirty`: bandpass, DC spike, broadband interference beside the
signal, 8-bit quantisation), and from this package's own injector
(:mod:`.trainset_inject`), so the classifier does not learn one generator's quirks.
``build_set`` mixes them, with long observations (``LONG_TRAIN_SETTINGS``) as a share.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..search import search_coarse_channel
from ..taxonomy import MORPHOLOGIES
from .features import FEATURE_NAMES, segment_features
from .trainset_example import HELD_OUT_NOISE, MAX_DRIFT, TRAIN_NOISE, Example
from .trainset_inject import make_example

# (df Hz, dt s, n_spectra, n_channels)
TRAIN_SETTINGS = {
    "voyager": (2.7939677, 18.253611, 16, 1024),
    "gbt_fine": (1.3969839, 1.4316557, 32, 2048),
    "parkes_like": (3.8146973, 16.777216, 16, 1024),
    "gbt_hires64": (1.3969839, 2.8633115, 64, 2048),
}
HELD_OUT_SETTINGS = {
    "lofar_like": (2.9802322, 0.67108864, 48, 1024),
    "coarse_fast": (7.4505806, 1.0737418, 24, 1024),
}
# Long observations (hundreds of spectra) with a resolution training never saw: reported
# by ``mitraseti evaluate`` as its own set (the hardest case, see the README).
LONG_HELD_OUT_SETTINGS = {
    "long_lofar": (2.9802322, 0.67108864, 384, 1024),
}
# Long observations in training: hundreds of spectra at resolutions unlike the held-out
# ones (``build_set(long_share=...)`` draws a share of examples from these).
LONG_TRAIN_SETTINGS = {
    "long128": (1.8626451, 1.0737418, 128, 1024),
    "long256": (3.7252903, 0.53687091, 256, 1024),
    "long512": (2.3841858, 1.3421773, 512, 1024),
    "long192": (2.7939677, 2.2817014, 192, 1024),
}
MAX_DRAWS = 4    # draws per example index until one can be located


@dataclass
class Located:
    """The hit features are measured at: channel at spectrum 0, drift (Hz/s), S/N, time
    segment (start, count; 0 = whole block), whether the search found it, and the two
    rules of ``classify_hits`` that overrule the model (a matched-filter boxcar >= 500 Hz
    is BROADBAND; a still hit on the DC bin or band edge of a coarse channel is NOISE)."""

    channel: float
    drift: float
    snr: float
    start: int = 0
    count: int = 0
    searched: bool = False
    rule_broadband: bool = False
    artifact: bool = False


# ---------------------------------------------------------------- mitraseti.synth --
def synth_noise_model(model: str, rng):
    """A ``mitraseti.synth.NoiseModel`` for one of our noise-model names."""
    from ..synth import NoiseModel
    if model == "gaussian":
        return NoiseModel(kind="gaussian", dof=int(rng.integers(16, 64)))
    if model == "chi2":
        return NoiseModel(kind="chi2", dof=int(rng.integers(16, 80)))
    if model == "bandpass":
        return NoiseModel(kind="chi2", dof=32, bandpass=True, ripple=float(rng.uniform(0, 0.2)))
    if model == "gain_drift":
        return NoiseModel(kind="chi2", dof=32, gain_drift=float(rng.uniform(0.02, 0.2)))
    if model == "chi2_lowdof":
        return NoiseModel(kind="chi2", dof=int(rng.integers(4, 10)))
    if model == "impulsive":
        return NoiseModel(kind="chi2", dof=32, impulses=int(rng.integers(1, 4)), impulse_snr=8.0)
    if model == "lognormal":  # not in synth: nearest heavy-tailed stand-in
        return NoiseModel(kind="chi2", dof=6, bandpass=True, ripple=0.1)
    raise ValueError(f"unknown noise model {model!r}")


def make_synth_example(label: str, rng, setting: tuple, noise: str,
                       dirty: bool = False) -> Example:
    """One example drawn by ``mitraseti.synth.random_signal`` (rule-checked labels);
    ``dirty``: observed through a random dirty receiver (:mod:`.trainset_dirty`)."""
    from ..synth import make_observation, random_signal
    from ..synth.observation import make_header
    df, dt, t_n, n = setting
    kw = dict(n_spectra=t_n, n_chans=n, df_hz=df, dt_s=dt,
              fch1_mhz=8400.0 + float(rng.uniform(-50, 50)), foff_sign=-1)
    sig = random_signal(label, rng, make_header(**kw), snr_range=(12.0, 300.0),
                        max_drift=MAX_DRIFT)
    rfi = []
    if dirty:
        from .trainset_dirty import make_dirty_observation
        obs, rfi = make_dirty_observation(sig, kw, synth_noise_model(noise, rng), rng)
    else:
        obs = make_observation(noise=synth_noise_model(noise, rng), signals=[sig], seed=rng,
                               **kw)
    tr = obs.truth[0]
    if tr.kind == "dc_spike":  # the DC bin is a rule of classify_hits, not learned
        raise ValueError("DC spike: handled by rule")
    return Example(obs.data, obs.header, tr.label, np.asarray(tr.track_channels, float),
                   max(tr.bandwidth_hz / df, 1.0), rfi=rfi, dirty=dirty,
                   snr=float(tr.snr / tr.local_noise_factor))


# ---------------------------------------------------------------- locate + features -
def _rules(hit, header, n_chans: int) -> tuple[bool, bool]:
    """(BROADBAND by rule, NOISE by rule) for a found hit, as ``classify_hits`` decides
    them on a block that is a whole coarse channel."""
    from ..search.broadband import BROADBAND_HZ
    from ..search.hit import MATCHED_FILTER
    from .classify import EDGE_GUARD, STATIONARY_FACTOR
    broad = hit.source == MATCHED_FILTER and hit.boxcar_width * header.df_hz >= BROADBAND_HZ
    r = header.drift_resolution
    still = abs(hit.drift_rate) <= STATIONARY_FACTOR * r
    ch = hit.channel_index
    on_edge = ch < EDGE_GUARD or ch > n_chans - 1 - EDGE_GUARD
    artifact = header.nfpc == n_chans and still and (abs(ch - n_chans // 2) <= 1 or on_edge)
    return bool(broad), bool(artifact)


def locate_hit(ex: Example, params=None, search=None, prefer_search: bool = True
               ) -> Located | None:
    """Where features are measured: with ``search`` (and ``prefer_search``) the hit it
    reports on the injected signal (the strongest filtered hit on its path, leaving out
    hits inside an interferer); else, or when it reports none there, the best straight
    line through the true path. A path drifting faster than the search range is a line
    no search reports: it is always searched, and None when there is no hit (or no
    search)."""
    hdr = ex.header
    t = np.arange(ex.path.size) + 0.5
    slope, icpt = np.polyfit(t, ex.path, 1)
    drift = hdr.drift_rate_for(slope)
    fast = abs(drift) > MAX_DRIFT
    if fast and search is None:
        return None
    if search is not None and (prefer_search or fast):
        from ..search.params import SearchParams
        p = params or SearchParams(max_drift=MAX_DRIFT, snr=10.0)
        _, hits = search(ex.data, hdr, p, coarse_channel=0, channel_offset=0)
        lo, hi = ex.path.min() - ex.width_ch - 4, ex.path.max() + ex.width_ch + 4
        near = [h for h in hits if lo <= h.channel_index <= hi or
                lo <= h.channel_index + hdr.channels_per_spectrum(h.drift_rate)
                * hdr.n_spectra <= hi]
        near = [h for h in near if not any(a <= h.channel_index <= b for a, b in ex.rfi)]
        if near:
            h = max(near, key=lambda h: h.snr)
            broad, artifact = _rules(h, hdr, ex.data.shape[1])
            return Located(float(h.channel_index), float(h.drift_rate), float(h.snr),
                           int(h.spectrum_start),
                           int(h.spectrum_count), True, broad, artifact)
        if fast:
            return None
    return Located(float(np.rint(icpt)), float(drift), max(ex.snr, 10.0))


def _one_example(i: int, seed, settings: dict, noises: tuple, mix: dict, search):
    """(features, label, meta) of example ``i`` of a set. rng([*seed, i]) draws its kind
    (setting, noise model, dirty or not) and its first signal; when that cannot be
    located (a path faster than the search range that no search reports), rng([*seed,
    i, k]) draws another of the same kind, up to ``MAX_DRAWS`` in all."""
    label = MORPHOLOGIES[i % len(MORPHOLOGIES)]
    key = [*np.atleast_1d(seed).tolist(), i]
    rng = np.random.default_rng(key)
    pool = settings
    if mix["long_share"] > 0 and rng.random() < mix["long_share"]:
        pool = mix["long_settings"]
    names = list(pool)
    sname = names[int(rng.integers(len(names)))]
    noise = noises[int(rng.integers(len(noises)))]
    dirty = mix["dirty_share"] > 0 and rng.random() < mix["dirty_share"]
    for k in range(MAX_DRAWS):
        if k:
            rng = np.random.default_rng(key + [k])
        ex = None
        if dirty or rng.random() < mix["synth_share"]:
            try:
                ex = make_synth_example(label, rng, pool[sname], noise, dirty=dirty)
            except ValueError:
                ex = None
        if ex is None and dirty:
            continue
        if ex is None:
            ex = make_example(label, rng, pool[sname], noise)
        use_search = dirty or rng.random() < mix["search_share"]
        loc = locate_hit(ex, search=search, prefer_search=use_search)
        if loc is not None:
            break
    else:
        return None
    x = segment_features(ex.data, ex.header, [loc.channel], [loc.drift], [loc.snr],
                         [loc.start], [loc.count])[0]
    meta = dict(setting=sname, noise=noise, dirty=ex.dirty, searched=loc.searched,
                rule_broadband=loc.rule_broadband, artifact=loc.artifact)
    return x, label, meta


def _single_thread():
    """Worker start: one numba thread per process (the processes are the parallelism)."""
    import numba
    numba.set_num_threads(1)


def _chunk(args):
    """Worker: examples ``lo .. hi - 1`` of a set."""
    lo, hi, rest = args
    return [_one_example(i, *rest) for i in range(lo, hi)]


def build_set(seed, n_per_label: int, settings: dict | None = None,
              noises: tuple | None = None, use_search: bool = True, progress=None,
              synth_share: float = 0.6, search_share: float = 0.5, dirty_share: float = 0.0,
              long_settings: dict | None = None, long_share: float = 0.0,
              workers: int = 1):
    """Features X (n, F), labels y (n,) str, and meta (one dict per example: setting,
    noise, dirty, searched, rule_broadband, artifact) for a seeded set.

    Example i uses rng([*seed, i]) (seed: an int or a tuple of ints), whatever
    ``workers`` (processes) build it. It comes from ``long_settings`` with probability
    ``long_share``, else from ``settings``; through a dirty receiver (``mitraseti.synth``,
    always located by the search) with probability ``dirty_share``; else from
    ``mitraseti.synth`` with probability ``synth_share`` or this module's
    injector. A share ``search_share`` of the clean examples is located by the real search
    (it dominates the cost), the rest at their true straight-line path. ``workers`` > 1
    spawns processes: call it from code under ``if __name__ == "__main__":``."""
    settings = settings or TRAIN_SETTINGS
    noises = noises or TRAIN_NOISE
    search = search_coarse_channel if use_search else None
    mix = dict(synth_share=synth_share, search_share=search_share,
               dirty_share=dirty_share if search else 0.0,
               long_settings=long_settings or {}, long_share=long_share if long_settings else 0.0)
    rest = (seed, settings, noises, mix, search)
    total = n_per_label * len(MORPHOLOGIES)
    step = 100
    chunks = [(lo, min(lo + step, total), rest) for lo in range(0, total, step)]
    results = []
    if workers > 1 and len(chunks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        # spawned, not forked: a fork of a process whose numba / OpenMP threads have
        # started can hang
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, initializer=_single_thread,
                                 mp_context=ctx) as pool:
            for k, part in enumerate(pool.map(_chunk, chunks)):
                results += part
                if progress:
                    progress(min((k + 1) * step, total), total)
    else:
        for k, c in enumerate(chunks):
            results += _chunk(c)
            if progress:
                progress(min((k + 1) * step, total), total)
    kept = [r for r in results if r is not None]
    x = np.array([r[0] for r in kept], dtype=np.float32).reshape(-1, len(FEATURE_NAMES))
    return x, np.array([r[1] for r in kept]), [r[2] for r in kept]
