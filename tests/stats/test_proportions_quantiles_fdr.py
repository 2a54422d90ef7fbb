from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from tinyfleet.stats.fdr import benjamini_hochberg, e_benjamini_hochberg
from tinyfleet.stats.proportions import newcombe_diff, wilson
from tinyfleet.stats.quantiles import histogram_quantile, log_edges

SEED = 7


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (1, 1000), (480, 1000)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    ci = sps.binomtest(k, n).proportion_ci(0.95, method="wilson")
    lo, hi = wilson(k, n)
    assert (lo, hi) == (pytest.approx(ci.low, abs=1e-9), pytest.approx(ci.high, abs=1e-9))


def test_newcombe_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, 95 %: 0.0524, 0.3339
    d, lo, hi = newcombe_diff(56, 70, 48, 80)
    assert d == pytest.approx(0.2)
    assert lo == pytest.approx(0.0524, abs=5e-5) and hi == pytest.approx(0.3339, abs=5e-5)


def test_newcombe_coverage_by_simulation() -> None:
    """95 % interval: coverage over 4000 draws in [0.93, 0.97] (sd of the estimate 0.0034)."""
    rng = np.random.default_rng(SEED)
    p1, p2, n1, n2 = 0.04, 0.02, 500, 800
    cover = 0
    for _ in range(4000):
        _, lo, hi = newcombe_diff(int(rng.binomial(n1, p1)), n1, int(rng.binomial(n2, p2)), n2)
        cover += lo <= p1 - p2 <= hi
    assert 0.93 <= cover / 4000 <= 0.97


def test_bh_matches_scipy_adjusted_p_values() -> None:
    rng = np.random.default_rng(SEED)
    for _ in range(100):
        p = np.concatenate([rng.uniform(size=40), rng.uniform(0, 1e-3, size=int(rng.integers(0, 10)))])
        adj = sps.false_discovery_control(p, method="bh")
        assert benjamini_hochberg(list(p), 0.05) == [bool(a <= 0.05) for a in adj]


def test_bh_controls_fdr_by_simulation() -> None:
    """m = 100, 80 nulls, q = 0.1: FDR <= q·m0/m = 0.08 (mean over 2000 runs, sd ~0.004)."""
    rng = np.random.default_rng(SEED + 1)
    fdp = []
    for _ in range(2000):
        z = np.concatenate([rng.normal(size=80), rng.normal(3.0, 1.0, size=20)])
        rej = np.array(benjamini_hochberg(list(sps.norm.sf(z)), 0.1))
        fdp.append(rej[:80].sum() / max(1, rej.sum()))
    assert np.mean(fdp) <= 0.08 + 0.01


def test_ebh_rejects_what_its_threshold_says() -> None:
    assert e_benjamini_hochberg([1000.0, 1.0, 0.5], 0.05) == [True, False, False]
    assert e_benjamini_hochberg([30.0, 30.0, 0.0], 0.1) == [True, True, False]  # 30 >= 3 / (2 · 0.1)
    assert e_benjamini_hochberg([], 0.1) == []


def test_histogram_quantile_brackets_the_sample_quantile_and_covers() -> None:
    edges = log_edges(10.0, 1e7, 48)
    rng = np.random.default_rng(SEED + 2)
    true_p95 = float(np.exp(np.log(400.0) + 0.4 * sps.norm.isf(0.05)))
    cover = 0
    trials = 1000
    for _ in range(trials):
        x = np.exp(rng.normal(np.log(400.0), 0.4, size=500))
        counts = np.histogram(x, bins=np.asarray(edges))[0]
        est = histogram_quantile(list(counts), edges, 0.95)
        assert est is not None
        i = int(np.searchsorted(edges, np.quantile(x, 0.95))) - 1
        assert edges[i] <= est.value <= edges[i + 1]  # in the sample quantile's bin
        cover += est.lower <= true_p95 <= est.upper
    assert cover / trials >= 0.95  # binning only widens the order-statistic interval


def test_histogram_quantile_edge_cases() -> None:
    edges = log_edges(1.0, 16.0, 4)
    assert histogram_quantile([0, 0, 0, 0], edges, 0.5) is None
    est = histogram_quantile([0, 10, 0, 0], edges, 0.5)
    assert est is not None and edges[1] <= est.lower <= est.value <= est.upper <= edges[2]
    with pytest.raises(ValueError):
        histogram_quantile([1, 2], edges, 0.5)


def test_latency_bins_are_the_contract_edges() -> None:
    from tinyfleet.drift import LAT_BINS, LAT_EDGES_US, latency_bin, latency_histogram

    rng = np.random.default_rng(SEED + 3)
    us = np.exp(rng.uniform(np.log(11.0), np.log(9e6), size=5000))
    expected = np.histogram(us, bins=np.asarray(LAT_EDGES_US))[0]
    assert np.array_equal(latency_histogram(us), expected)
    assert [latency_bin(float(x)) for x in us[:200]] == [
        int(np.searchsorted(LAT_EDGES_US, x, "right")) - 1 for x in us[:200]
    ]
    assert latency_bin(0.0) == 0 and latency_bin(float("nan")) == 0 and latency_bin(1e12) == LAT_BINS - 1
    assert pytest.approx(log_edges(10.0, 1e7, LAT_BINS)) == LAT_EDGES_US


def test_quantile_with_a_given_rank_halfwidth() -> None:
    est = histogram_quantile([0, 100, 0], log_edges(1.0, 8.0, 3), 0.5, rank_halfwidth=0.5)
    assert est is not None and (est.lower, est.upper) == (pytest.approx(2.0), pytest.approx(4.0))
    wide = histogram_quantile([10, 80, 10], log_edges(1.0, 8.0, 3), 0.5, rank_halfwidth=0.45)
    assert wide is not None and (wide.lower, wide.upper) == (pytest.approx(1.0), pytest.approx(8.0))
