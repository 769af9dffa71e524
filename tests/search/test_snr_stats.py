"""spectrum_stats: turboSETI's noise statistics (median, std within the 5th-95th
percentiles), computed exactly whatever the shape of the spectrum."""
import numpy as np
import pytest

from mitraseti.order_stats import median_float32, order_statistics
from mitraseti.search.snr import MAX_STATS_SAMPLES, spectrum_stats


def reference_stats(x: np.ndarray) -> tuple[float, float]:
    """The definition, written with numpy's percentile (strided subset as documented)."""
    x = np.asarray(x).ravel()
    if x.size > MAX_STATS_SAMPLES:
        x = x[::-(-x.size // MAX_STATS_SAMPLES)]
    x = x[np.isfinite(x)].astype(np.float64)
    low, med, high = np.percentile(x, (5, 50, 95))
    kept = x[(x >= low) & (x <= high)]
    return float(med), float(kept.std())


rng = np.random.default_rng(11)
SPECTRA = {
    "gaussian, 2^20 channels": rng.standard_normal(1 << 20).astype(np.float32) * 40 + 1e4,
    "chi-square, odd length": rng.chisquare(3, 65537).astype(np.float32),
    "quantised (many ties)": np.round(rng.standard_normal(200_000) * 3).astype(np.float32),
    "sorted (a strided sample sees a ramp)": np.sort(rng.standard_normal(131_072)),
    "periodic (every 4th channel bright)": np.tile(np.array([50.0, 1, 1, 1]), 40_000)
    + rng.standard_normal(160_000) * 0.01,
    "mostly zeros": np.r_[np.zeros(100_000), rng.standard_normal(31_072) * 5],
    "short": rng.standard_normal(50),
    "with NaN and Inf": np.r_[rng.standard_normal(70_000), [np.nan, np.inf, -np.inf]],
}


@pytest.mark.parametrize("name", SPECTRA)
def test_stats_equal_the_percentile_definition(name):
    x = SPECTRA[name]
    median, std = spectrum_stats(x)
    ref_median, ref_std = reference_stats(x)
    assert median == pytest.approx(ref_median, rel=1e-12, abs=1e-12)
    assert std == pytest.approx(ref_std, rel=1e-9, abs=1e-12)


def test_gaussian_clipped_std_is_about_079_sigma():
    _, std = spectrum_stats(rng.standard_normal(200_000) * 3.0)
    assert std == pytest.approx(0.79 * 3.0, rel=0.02)


@pytest.mark.parametrize("name", SPECTRA)
def test_order_statistics_are_exact_and_the_median_is_numpys(name):
    x = SPECTRA[name]
    x = x[np.isfinite(x)].astype(np.float32)
    ranks = sorted({0, x.size // 20, x.size // 2, x.size - 1})
    exact = np.sort(x)
    assert order_statistics(x, ranks) == {k: float(exact[k]) for k in ranks}
    assert median_float32(x) == np.median(x)
