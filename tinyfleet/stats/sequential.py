"""Sequential tests whose guarantee holds at every look: normal-mixture SPRT and alpha spending.

Normal-mixture SPRT (Robbins; "mSPRT" in Johari, Pekelis, Walsh, *Always valid inference*). An
estimate ``est`` of an effect θ with variance ``v`` (shrinking as data arrive) is, to the normal
approximation, a Gaussian random walk in information time ``I = 1/v``. Mixing its likelihood ratio
over θ ~ N(0, τ²) gives

    Λ = sqrt(v / (v + τ²)) · exp(τ² (est − θ0)² / (2 v (v + τ²))),

a nonnegative martingale with mean 1 under θ = θ0; by Ville's inequality
``P(∃ look: Λ ≥ 1/α) ≤ α``. Inverting it gives an interval valid at every look at once
(``est ± mixture_halfwidth(v, α, τ)``). For a d-dimensional effect (a histogram's deviation, d = B − 1)
with a whitened statistic X² (Pearson/G) and the same prior per dimension:

    Λ = (1 + τ² I)^(−d/2) · exp(τ² I X² / (2 (1 + τ² I))).

Alpha spending: looks at a fixed rate, each at level ``α_total / looks``, keep the union bound
``P(any false alarm among the looks) ≤ α_total``.
"""

from __future__ import annotations

import math

__all__ = ["chi2_mixture_log_e", "mixture_halfwidth", "mixture_log_e", "spend"]


def _check(var: float, tau: float) -> None:
    if not (var > 0 and math.isfinite(var)):
        raise ValueError("variance must be finite and > 0")
    if not (tau > 0 and math.isfinite(tau)):
        raise ValueError("mixture scale tau must be finite and > 0")


def mixture_log_e(est: float, var: float, tau: float, null: float = 0.0) -> float:
    """log Λ of the normal-mixture SPRT for H0: θ = ``null`` (two-sided)."""
    _check(var, tau)
    t2 = tau * tau
    return 0.5 * math.log(var / (var + t2)) + t2 * (est - null) ** 2 / (2.0 * var * (var + t2))


def mixture_halfwidth(var: float, alpha: float, tau: float) -> float:
    """Half-width of the always-valid (1 − α) interval ``est ± h`` (the θ0 with log Λ < log 1/α)."""
    _check(var, tau)
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    t2 = tau * tau
    return math.sqrt(2.0 * var * (var + t2) / t2 * (math.log(1.0 / alpha) + 0.5 * math.log((var + t2) / var)))


def chi2_mixture_log_e(x2: float, df: int, info: float, tau2: float) -> float:
    """log Λ of the d-dimensional normal mixture for a χ²(df) statistic at information ``info``.

    For two histograms of sizes n and m, ``info = n·m/(n + m)`` and ``tau2`` is the prior variance
    per dimension in chi-square-divergence units (≈ PSI units): ``df · tau2`` is the PSI the prior
    expects under the alternative.
    """
    if df < 1:
        return 0.0
    if not (info > 0 and tau2 > 0 and x2 >= 0):
        raise ValueError("info and tau2 must be > 0 and the statistic >= 0")
    s = tau2 * info
    return -0.5 * df * math.log1p(s) + s * x2 / (2.0 * (1.0 + s))


def spend(alpha_total: float, looks: float) -> float:
    """The level of each of ``looks`` equally weighted looks (union bound over them)."""
    if not 0.0 < alpha_total < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    if not looks >= 1:
        raise ValueError("looks must be >= 1")
    return alpha_total / looks
