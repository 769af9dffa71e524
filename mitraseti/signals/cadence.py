"""ON/OFF cadence analysis (turboSETI find_event levels 1-3).

Files alternate ON, OFF, ON, OFF, ... (standard ABACAD: six files). Every file is searched
and classified (or its hits are given); hits are then matched across files:

* level 1: ON hits passing the S/N and drift cuts (``params.snr``, ``params.min_drift`` <=
  |drift| <= ``params.max_drift``);
* level 2: and no OFF hit within ``|max_drift| * obs_length`` Hz of the ON hit's frequency
  (or of its drift-projected frequency at the OFF file's start);
* level 3: and a hit in every other ON file within ``tol`` of the drift-projected
  frequency ``f0 + drift * (t_k - t_0)``, tol = 4 df + 2 r |t_k - t_0| + bandwidth / 2
  (the projection error of a drift known to +-r, plus the signal's width).

Labels: an ON hit seen in an OFF, and every non-noise OFF hit, becomes RFI_TERRESTRIAL with
rfi_source "cadence: seen in OFF" (satellite-band hits keep RFI_SATELLITE, NOISE stays
NOISE); a level-3 NARROWBAND_DRIFTING hit outside every RFI band (and its matches in the
other ONs) becomes CANDIDATE_ET. Events are the level-``filter_level`` ON hits (seeded
from the first ON file at level 3, from every ON file below).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..errors import InputError, ParameterError
from ..search.params import SearchParams
from .interest import SEEN_IN_OFF, interestingness
from ..taxonomy import SignalClass

EVENT_COLUMNS = ["event_id", "frequency_hz", "drift_rate", "snr", "classification",
                 "interestingness", "confidence", "rfi_source", "bandwidth_hz", "filter_level",
                 "on_matches", "seen_in_off", "file", "png"]


class CadenceError(InputError, ValueError):
    """The files do not form a valid cadence; the message names the offending file.
    Field: ``file`` (the offending file's name or path; None when the set as a whole is
    wrong, e.g. too few files)."""

    def __init__(self, message: str, *, file: str | Path | None = None) -> None:
        super().__init__(message, file=None if file is None else str(file))


@dataclass
class CadenceFile:
    """One file of a cadence: its header, classified hits and, when known, path or data."""

    header: object
    hits: list | None
    name: str
    path: Path | None = None
    data: np.ndarray | None = None  # whole (n_spectra, nchans) block, for given inputs


@dataclass
class CadenceEvent:
    """An ON hit that passed the requested filter level."""

    event_id: int
    file_index: int
    hit: object
    matches: dict = field(default_factory=dict)  # file index -> matching Hit (ON files)
    seen_in_off: bool = False
    filter_level: int = 1
    png: str = ""

    def to_row(self, files) -> dict:
        h = self.hit
        return dict(event_id=self.event_id, frequency_hz=h.frequency_hz,
                    drift_rate=h.drift_rate, snr=h.snr, classification=h.classification,
                    interestingness=h.interestingness, confidence=h.confidence,
                    rfi_source=h.rfi_source, bandwidth_hz=h.bandwidth_hz,
                    filter_level=self.filter_level, on_matches=len(self.matches),
                    seen_in_off=self.seen_in_off, file=files[self.file_index].name,
                    png=self.png)


@dataclass
class CadenceResult:
    events: list
    files: list
    filter_level: int
    csv_path: Path | None = None
    png_paths: list = field(default_factory=list)

    @property
    def candidates(self) -> list:
        return [e for e in self.events
                if e.hit.classification == SignalClass.CANDIDATE_ET.value]


def _header_only(path: Path, params: SearchParams) -> CadenceFile:
    """A file's header (hits filled later by :func:`_search_file`)."""
    from ..io import open_observation
    with open_observation(path, n_coarse_chan=params.n_coarse_chan) as obs:
        return CadenceFile(obs.header, None, Path(path).name, path=Path(path))


def _search_file(f: CadenceFile, params: SearchParams) -> None:
    """Search and classify every coarse channel of one file (fills ``f.hits``)."""
    from ..io import open_observation
    from ..search import search_coarse_channel
    from .classify import classify_hits
    hits = []
    with open_observation(f.path, n_coarse_chan=params.n_coarse_chan) as obs:
        hdr = obs.header
        for i, block in obs.iter_coarse_channels():
            _, filt = search_coarse_channel(block, hdr, params, coarse_channel=i,
                                            channel_offset=i * obs.nfpc)
            hits += classify_hits(filt, block, hdr, channel_offset=i * obs.nfpc)
    f.header, f.hits = hdr, hits


def _as_file(item, k: int, params: SearchParams) -> CadenceFile:
    if isinstance(item, CadenceFile):
        return item
    if isinstance(item, (str, Path)):
        if not Path(item).is_file():
            raise CadenceError(f"cadence file {k + 1} ({item}) does not exist", file=item)
        return _header_only(Path(item), params)
    if isinstance(item, tuple) and len(item) in (2, 3):
        data = item[2] if len(item) == 3 else None
        hits = list(item[1])
        if data is not None and any(not h.classification for h in hits):
            from .classify import classify_hits
            classify_hits(hits, data, item[0])  # data: the whole file as one block
        return CadenceFile(item[0], hits, f"file {k + 1}", data=data)
    if hasattr(item, "header") and hasattr(item, "filtered_hits"):
        return CadenceFile(item.header, list(item.filtered_hits), f"file {k + 1}")
    raise CadenceError(f"cadence item {k + 1}: expected a path, (header, hits[, data]) or a "
                       f"result with .header and .filtered_hits, got {type(item).__name__}")


def check_cadence(files: list[CadenceFile]) -> None:
    """Raise CadenceError naming the file when the set is not a usable ON/OFF cadence."""
    if len(files) < 2:
        raise CadenceError(f"a cadence needs at least 2 files (ON, OFF), got {len(files)}")
    if len(files) % 2:
        raise CadenceError(f"a cadence alternates ON and OFF files, so needs an even number; "
                           f"got {len(files)} (last file: {files[-1].name})",
                           file=files[-1].name)
    ref = files[0].header
    for f in files[1:]:
        h = f.header
        if int(h.nchans) != int(ref.nchans):
            raise CadenceError(f"{f.name}: nchans {h.nchans} differs from {files[0].name}'s "
                               f"{ref.nchans}", file=f.name)
        if not np.isclose(h.foff, ref.foff, rtol=1e-9, atol=0):
            raise CadenceError(f"{f.name}: foff {h.foff} MHz differs from {files[0].name}'s "
                               f"{ref.foff} MHz", file=f.name)
        if abs(h.fch1 - ref.fch1) > 0.01 * abs(ref.foff):
            raise CadenceError(f"{f.name}: fch1 {h.fch1} MHz differs from {files[0].name}'s "
                               f"{ref.fch1} MHz", file=f.name)


def _arrays(hits):
    f = np.array([h.frequency_hz for h in hits], dtype=float)
    return f


def run_cadence(paths_or_results, out_dir=None, filter_level: int = 3,
                params: SearchParams = SearchParams(), plot: bool = True) -> CadenceResult:
    """Analyse an ON/OFF cadence; write ``cadence_events.csv`` and one PNG per event
    into ``out_dir`` when given. Items: paths (searched and classified here), (header,
    hits[, data]) tuples (hits classified here when ``data``, the whole file, is given and
    they are not yet), or results with ``.header`` and ``.filtered_hits`` (classified)."""
    if filter_level not in (1, 2, 3):
        raise ParameterError(parameter="filter_level", expected="1, 2 or 3", got=filter_level)
    items = list(paths_or_results)
    if len(items) < 2:
        raise CadenceError(f"a cadence needs at least 2 files (ON, OFF), got {len(items)}")
    files = [_as_file(it, k, params) for k, it in enumerate(items)]
    check_cadence(files)
    for f in files:
        if f.hits is None:
            _search_file(f, params)
    h0 = files[0].header
    t0 = float(h0.tstart)
    df, r = h0.df_hz, h0.drift_resolution
    off_window = max(abs(params.max_drift) * h0.obs_length_s, 2 * df)
    on_idx = list(range(0, len(files), 2))
    off_idx = list(range(1, len(files), 2))
    freqs = [_arrays(f.hits) for f in files]

    def projected(h, k):
        return h.frequency_hz + h.drift_rate * (float(files[k].header.tstart) - t0) * 86400.0

    def seen_in_off(h, k_src):
        for k in off_idx:
            if freqs[k].size == 0:
                continue
            dt = (float(files[k].header.tstart) - float(files[k_src].header.tstart)) * 86400
            f_proj = h.frequency_hz + h.drift_rate * dt
            if (np.abs(freqs[k] - h.frequency_hz) <= off_window).any() or \
                    (np.abs(freqs[k] - f_proj) <= off_window).any():
                return True
        return False

    def on_matches(h, k_src):
        out = {}
        for k in on_idx:
            if k == k_src or freqs[k].size == 0:
                continue
            dt = (float(files[k].header.tstart) - float(files[k_src].header.tstart)) * 86400
            tol = 4 * df + 2 * r * abs(dt) + 0.5 * (h.bandwidth_hz or 0.0)
            d = np.abs(freqs[k] - (h.frequency_hz + h.drift_rate * dt))
            j = int(d.argmin())
            if d[j] <= tol:
                out[k] = files[k].hits[j]
        return out

    def passes_cuts(h):
        return h.snr >= params.snr and params.min_drift <= abs(h.drift_rate) <= params.max_drift

    _label_off_hits(files, off_idx)
    events = []
    seeds = on_idx[:1] if filter_level == 3 else on_idx
    for k in on_idx:
        for h in files[k].hits:
            in_off = seen_in_off(h, k)
            if in_off:
                _mark_seen_in_off(h)
            if k not in seeds or not passes_cuts(h):
                continue
            matches = on_matches(h, k)
            level = 1 if in_off else (3 if len(matches) == len(on_idx) - 1 else 2)
            if level == 3 and _is_et(h):
                for m in [h, *matches.values()]:
                    _mark_candidate(m)
            if level >= filter_level:
                events.append(CadenceEvent(len(events), k, h, matches, in_off, level))
    result = CadenceResult(events, files, filter_level)
    if out_dir is not None:
        _write_outputs(result, Path(out_dir), plot)
    return result


def _is_et(h) -> bool:
    return h.classification == SignalClass.NARROWBAND_DRIFTING.value and not h.rfi_source


def _mark_candidate(h) -> None:
    h.classification = SignalClass.CANDIDATE_ET.value
    h.interestingness = interestingness(h)


def _mark_seen_in_off(h) -> None:
    if h.classification in (SignalClass.NOISE.value, SignalClass.RFI_SATELLITE.value):
        return
    if h.classification != SignalClass.RFI_TERRESTRIAL.value:
        h.classification = SignalClass.RFI_TERRESTRIAL.value
        h.rfi_source = SEEN_IN_OFF
    h.interestingness = interestingness(h)


def _label_off_hits(files, off_idx) -> None:
    for k in off_idx:
        for h in files[k].hits:
            _mark_seen_in_off(h)


def _write_outputs(result: CadenceResult, out: Path, plot: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if plot:
        from .cadence_plot import plot_event
        for ev in result.events:
            p = plot_event(ev, result.files, out / f"event_{ev.event_id:04d}.png")
            ev.png = p.name
            result.png_paths.append(p)
    path = out / "cadence_events.csv"
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=EVENT_COLUMNS)
        w.writeheader()
        for ev in result.events:
            w.writerow(ev.to_row(result.files))
    result.csv_path = path
