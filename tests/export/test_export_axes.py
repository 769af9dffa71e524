"""Tick values of the drawn axes (mitraseti.export.axes.ticks) against matplotlib's rule."""
import numpy as np
import pytest
from matplotlib.ticker import MaxNLocator

from mitraseti.export.axes import ticks


def test_ticks_are_matplotlibs_maxnlocator_values_in_range():
    rng = np.random.default_rng(11)
    for _ in range(3000):
        n = int(rng.integers(3, 12))
        lo = float(rng.normal() * 10 ** rng.uniform(-3, 4))
        hi = lo + 10 ** rng.uniform(-3, 5)
        ref = MaxNLocator(nbins=n, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        eps = 1e-9 * (hi - lo)
        ref = ref[(ref >= lo - eps) & (ref <= hi + eps)]
        ours = ticks(lo, hi, n)
        assert len(ours) == len(ref) and 2 <= len(ours) <= n + 1, (lo, hi, n, ref, ours)
        assert np.allclose(ours, ref, rtol=0, atol=1e-6 * (hi - lo)), (lo, hi, n)


@pytest.mark.parametrize("lo, hi, n, expected", [
    (0.01, 16.69, 3, [5, 10, 15]),          # one tick at step 10: a smaller step
    (-2.0, 2.0, 4, [-2, -1, 0, 1, 2]),
    (0.0, 300.0, 7, [0, 50, 100, 150, 200, 250, 300]),
    (3.0, 3.0, 5, [3.0]),                   # an empty range: its one value
])
def test_ticks_examples(lo, hi, n, expected):
    assert ticks(lo, hi, n).tolist() == pytest.approx(expected)
