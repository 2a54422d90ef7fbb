"""Two-sample G / chi-square tests: scipy's chi2_contingency as the oracle, error rates by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from tinyfleet.stats.homogeneity import (
    homogeneity_test,
    merge_sparse,
    psi,
    psi_critical,
    psi_null_mean,
)

SEED = 20261208


def _dirichlet_p(rng: np.random.Generator, bins: int) -> np.ndarray:
    return rng.dirichlet(np.full(bins, 0.7))


@pytest.mark.parametrize("method,lam", [("g", "log-likelihood"), ("pearson", "pearson")])
def test_statistic_and_p_value_match_scipy_on_the_merged_table(method: str, lam: str) -> None:
    rng = np.random.default_rng(SEED)
    for _ in range(50):
        bins = int(rng.integers(2, 17))
        p = _dirichlet_p(rng, bins)
        a = rng.multinomial(int(rng.integers(20, 5000)), p)
        b = rng.multinomial(int(rng.integers(20, 800)), _dirichlet_p(rng, bins) if rng.random() < 0.5 else p)
        x, y = merge_sparse(a, b)
        r = homogeneity_test(a, b, method)  # type: ignore[arg-type]
        if x.size < 2:
            assert r.p_value == 1.0
            continue
        stat, pval, dof, _ = sps.chi2_contingency(np.vstack([x, y]), correction=False, lambda_=lam)
        assert (r.statistic, r.df) == (pytest.approx(stat, rel=1e-9), dof)
        assert r.p_value == pytest.approx(pval, rel=1e-7, abs=1e-300)


def test_merging_keeps_counts_and_reaches_the_expected_minimum() -> None:
    rng = np.random.default_rng(SEED + 1)
    for _ in range(200):
        bins = int(rng.integers(1, 17))
        a = rng.multinomial(int(rng.integers(1, 3000)), _dirichlet_p(rng, bins))
        b = rng.multinomial(int(rng.integers(1, 300)), _dirichlet_p(rng, bins))
        x, y = merge_sparse(a, b)
        assert x.sum() == a.sum() and y.sum() == b.sum()
        if x.size >= 2:
            expected_small = (x + y) * min(a.sum(), b.sum()) / (a.sum() + b.sum())
            assert expected_small.min() >= 5.0 - 1e-9


def _false_positive_rate(n: int, m: int, bins: int, alpha: float, trials: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    p = _dirichlet_p(rng, bins)
    hits = 0
    for _ in range(trials):
        r = homogeneity_test(rng.multinomial(n, p), rng.multinomial(m, p))
        hits += r.p_value <= alpha
    return hits / trials


@pytest.mark.parametrize("n,m,bins", [(100, 100, 16), (10_000, 100, 16), (1000, 300, 10), (60, 2000, 4)])
def test_false_positive_rate_is_alpha_at_small_and_unequal_sizes(n: int, m: int, bins: int) -> None:
    # 2000 trials at alpha = 0.05: sd of the observed rate is sqrt(.05 * .95 / 2000) = 0.0049;
    # accept [0.02, 0.075] (the approximation is slightly liberal or conservative on sparse tables).
    rate = _false_positive_rate(n, m, bins, 0.05, 2000, SEED + n + m)
    assert 0.02 <= rate <= 0.075


def test_power_against_a_shift() -> None:
    rng = np.random.default_rng(SEED + 2)
    p = np.full(10, 0.1)
    q = p * np.exp(0.6 * np.linspace(-1, 1, 10))
    q /= q.sum()
    hits = sum(
        homogeneity_test(rng.multinomial(5000, p), rng.multinomial(300, q)).p_value < 1e-3 for _ in range(200)
    )
    assert hits >= 190


def test_psi_null_distribution_matches_chi_square_scaling() -> None:
    """PSI·nm/(n+m) ≈ χ²(B−1): its mean and its 95 % quantile from 4000 null draws."""
    rng = np.random.default_rng(SEED + 3)
    n, m, bins = 2000, 400, 8
    p = np.full(bins, 1 / bins)
    draws = np.array([psi(rng.multinomial(n, p), rng.multinomial(m, p), 0.0) for _ in range(4000)])
    assert draws.mean() == pytest.approx(psi_null_mean(bins, n, m), rel=0.05)
    crit = psi_critical(bins, n, m, 0.05)
    assert crit == pytest.approx(sps.chi2.isf(0.05, bins - 1) * (1 / n + 1 / m), rel=1e-9)
    assert 0.04 <= float(np.mean(draws > crit)) <= 0.065


def test_degenerate_inputs() -> None:
    assert homogeneity_test([0, 0], [5, 5]).p_value == 1.0
    assert homogeneity_test([10, 0], [10, 0]).df == 0
    with pytest.raises(ValueError):
        homogeneity_test([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        merge_sparse([1, -1], [1, 1])
    with pytest.raises(ValueError):
        psi_critical(1, 10, 10, 0.05)
