"""Parameter and input validation: clear errors naming the parameter."""
from __future__ import annotations

import numpy as np
import pytest

from mitraseti.search import ParameterError, SearchParams, search_coarse_channel

from search_helpers import make_header


@pytest.mark.parametrize("kwargs,word", [
    (dict(max_drift=0), "max_drift"), (dict(max_drift=-1), "max_drift"),
    (dict(max_drift=float("nan")), "max_drift"), (dict(min_drift=-0.1), "min_drift"),
    (dict(min_drift=5, max_drift=4), "min_drift"), (dict(snr=0), "snr"),
    (dict(snr="10"), "snr"), (dict(n_coarse_chan=0), "n_coarse_chan"),
    (dict(n_coarse_chan=2.5), "n_coarse_chan"), (dict(max_drift=True), "max_drift"),
    (dict(matched_filter="yes"), "matched_filter"), (dict(blank_dc=1), "blank_dc"),
])
def test_bad_parameters_raise(kwargs, word):
    with pytest.raises(ParameterError, match=word):
        SearchParams(**kwargs)


def test_defaults_and_bad_inputs():
    p = SearchParams()
    assert (p.max_drift, p.min_drift, p.snr, p.n_coarse_chan) == (4.0, 0.0, 10.0, None)
    assert issubclass(ParameterError, ValueError)
    h = make_header(4, 64)
    with pytest.raises(ParameterError, match="2-D"):
        search_coarse_channel(np.zeros(64, np.float32), h, p)
    with pytest.raises(ParameterError, match="at least one"):
        search_coarse_channel(np.zeros((0, 64), np.float32), h, p)
    h.tsamp = 0.0
    with pytest.raises(ParameterError, match="tsamp"):
        search_coarse_channel(np.zeros((4, 64), np.float32), h, p)


def test_any_input_dtype_and_tiny_blocks():
    h = make_header(1, 64)
    raw, hits = search_coarse_channel(np.ones((1, 64), dtype=np.uint8), h, SearchParams())
    assert raw == [] and hits == []  # constant data: no noise, no hits, no error
