"""Intervals for a proportion and for a difference of two proportions.

Wilson score interval for k successes of n: the p with ``|k/n − p| <= z sqrt(p(1 − p)/n)``.
Newcombe's hybrid score interval for ``p1 − p2`` (method 10 of Newcombe, 1998) combines the two
Wilson intervals (l1, u1), (l2, u2):
``[d − sqrt((p1 − l1)² + (u2 − p2)²), d + sqrt((u1 − p1)² + (p2 − l2)²)]``, d = p1 − p2.
"""

from __future__ import annotations

import math

from tinyfleet.stats.distributions import norm_isf

__all__ = ["newcombe_diff", "wilson"]


def _check(k: int, n: int) -> None:
    if not (isinstance(k, int) and isinstance(n, int)) or n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError("need integers 0 <= k <= n")


def wilson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided (1 − α) Wilson interval for a proportion; (0, 1) when n = 0."""
    _check(k, n)
    if n == 0:
        return 0.0, 1.0
    z = norm_isf(alpha / 2.0)
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    if k == 0:
        lo = 0.0
    if k == n:
        hi = 1.0
    return lo, hi


def newcombe_diff(k1: int, n1: int, k2: int, n2: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """(p1 − p2, lower, upper): Newcombe's hybrid score interval for the difference."""
    _check(k1, n1)
    _check(k2, n2)
    p1 = k1 / n1 if n1 else 0.0
    p2 = k2 / n2 if n2 else 0.0
    l1, u1 = wilson(k1, n1, alpha)
    l2, u2 = wilson(k2, n2, alpha)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, max(-1.0, lo), min(1.0, hi)
