"""De-Doppler search for narrowband drifting signals (Taylor tree + matched filter).

Public API (docs/interfaces.md): ``SearchParams``, ``ParameterError``, ``Hit``,
``search_coarse_channel``, ``search_observation``, ``SearchResult``, and the kernels
``taylor_tree`` / ``dedoppler`` / ``max_over_drift``. Conventions: ``drift_grid.py``
(grid, path shape), ``snr.py`` (S/N), ``matched_filter.py`` (smeared / wide signals),
``filtering.py`` (raw -> filtered hits).
"""
from .drift_grid import DriftGrid, path_offset, taylor_path_offset
from .filtering import dc_blanked, merge_hits
from .hit import CSV_COLUMNS, DEDOPPLER, MATCHED_FILTER, Hit
from .hitsearch import top_hits
from .matched_filter import boxcar, decimate, smear_bands, wide_bands
from .params import ParameterError, SearchParams
from .driver import search_observation
from .run import SearchResult, Stage, plan_stages, search_coarse_channel
from .snr import spectrum_stats
from .taylor import dedoppler, max_over_drift, taylor_tree

__all__ = [
    "CSV_COLUMNS", "DEDOPPLER", "MATCHED_FILTER", "DriftGrid", "Hit", "ParameterError",
    "SearchParams", "SearchResult", "Stage", "boxcar", "dc_blanked", "decimate",
    "dedoppler", "max_over_drift", "merge_hits", "path_offset", "plan_stages",
    "search_coarse_channel", "search_observation", "spectrum_stats", "taylor_path_offset",
    "taylor_tree", "top_hits", "smear_bands", "wide_bands",
]
