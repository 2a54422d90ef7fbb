"""Normal-mixture SPRT: the closed forms against direct integration, and its type-I guarantee over
repeated looks by seeded simulation (beside the naive fixed-sample test, which the looks inflate)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from tinyfleet.stats.homogeneity import homogeneity_test
from tinyfleet.stats.sequential import chi2_mixture_log_e, mixture_halfwidth, mixture_log_e, spend


@pytest.mark.parametrize("est,var,tau", [(0.0, 1e-4, 0.02), (0.03, 1e-4, 0.02), (-0.2, 0.01, 0.5)])
def test_mixture_e_is_the_integral_of_the_likelihood_ratio(est: float, var: float, tau: float) -> None:
    def lr(theta: float) -> float:
        return sps.norm.pdf(est, theta, math.sqrt(var)) / sps.norm.pdf(est, 0.0, math.sqrt(var))

    direct, _ = integrate.quad(lambda t: lr(t) * sps.norm.pdf(t, 0.0, tau), -20 * tau, 20 * tau, points=[est])
    assert math.exp(mixture_log_e(est, var, tau)) == pytest.approx(direct, rel=1e-6)


def test_halfwidth_inverts_the_e_value() -> None:
    for var, tau, alpha in [(1e-4, 0.02, 0.05), (1e-2, 0.1, 0.01), (1e-6, 0.5, 1e-4)]:
        h = mixture_halfwidth(var, alpha, tau)
        assert mixture_log_e(h, var, tau) == pytest.approx(math.log(1 / alpha), rel=1e-9)


def test_chi2_mixture_with_one_dimension_is_the_scalar_mixture() -> None:
    # d = 1: X² = est²/var, info = 1/var
    est, var, tau = 0.05, 4e-4, 0.03
    assert chi2_mixture_log_e(est * est / var, 1, 1 / var, tau * tau) == pytest.approx(
        mixture_log_e(est, var, tau)
    )


def _two_proportion_walk(
    rng: np.random.Generator, p: float, batch: int, looks: int, alpha: float
) -> tuple[bool, bool]:
    """(always-valid interval ever excluded 0, naive 95 % z-interval ever excluded 0)."""
    k1 = k2 = n = 0
    av = naive = False
    for _ in range(looks):
        k1 += int(rng.binomial(batch, p))
        k2 += int(rng.binomial(batch, p))
        n += batch
        p1, p2 = (k1 + 1) / (n + 2), (k2 + 1) / (n + 2)
        var = p1 * (1 - p1) / n + p2 * (1 - p2) / n
        d = (k1 - k2) / n
        av |= abs(d) > mixture_halfwidth(var, alpha, 0.02)
        naive |= abs(d) > 1.959964 * math.sqrt(var)
    return av, naive


def test_type_one_error_over_100_looks_stays_below_alpha() -> None:
    """800 runs × 100 looks, α = 0.05. Ville bounds the always-valid rate by 0.05 (observed + 3 sd
    of a 0.05 rate over 800 runs = 0.073 as the limit); the naive test is far above it."""
    rng = np.random.default_rng(11)
    runs = [_two_proportion_walk(rng, 0.05, 50, 100, 0.05) for _ in range(800)]
    av = sum(a for a, _ in runs) / len(runs)
    naive = sum(b for _, b in runs) / len(runs)
    assert av <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 800)
    assert naive >= 0.2  # what repeated looks do to a fixed-sample test


def test_chi2_mixture_type_one_error_with_a_sampled_baseline() -> None:
    """Baseline of 5000 (itself a sample), live histogram growing by 100 per look for 100 looks,
    α = 0.05: the share of runs that ever reach 1/α is below α (400 runs; limit α + 3 sd)."""
    rng = np.random.default_rng(12)
    p = np.full(10, 0.1)
    hits = 0
    for _ in range(400):
        base = rng.multinomial(5000, p)
        live = np.zeros(10)
        for _ in range(100):
            live += rng.multinomial(100, p)
            r = homogeneity_test(base, live)
            info = r.n * r.m / (r.n + r.m)
            if r.df and chi2_mixture_log_e(r.statistic, r.df, info, 0.2 / r.df) >= math.log(20):
                hits += 1
                break
    assert hits / 400 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400)


def test_spend_and_bad_arguments() -> None:
    assert spend(0.01, 2880) == pytest.approx(0.01 / 2880)
    for call in (
        lambda: spend(0.0, 10),
        lambda: spend(0.1, 0.5),
        lambda: mixture_halfwidth(0.0, 0.05, 0.1),
        lambda: mixture_log_e(0.1, 1.0, 0.0),
        lambda: chi2_mixture_log_e(-1.0, 3, 10.0, 0.1),
    ):
        with pytest.raises(ValueError):
            call()
    assert chi2_mixture_log_e(5.0, 0, 10.0, 0.1) == 0.0
