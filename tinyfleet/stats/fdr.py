"""False-discovery-rate control across devices and cohorts.

Benjamini–Hochberg at level q: sort the m p-values, find the largest k with ``p_(k) <= k q / m`` and
reject the k smallest. Under independence (or positive dependence) FDR <= q·m0/m; when every
hypothesis is null that is ``P(any rejection) <= q``. e-BH (Wang & Ramdas, 2022) does the same with
e-values (``e_(k) >= m / (k q)``) and controls FDR under any dependence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["benjamini_hochberg", "e_benjamini_hochberg"]


def _check_q(q: float) -> None:
    if not 0.0 < q < 1.0:
        raise ValueError("FDR level must be in (0, 1)")


def benjamini_hochberg(p_values: Sequence[float], q: float) -> list[bool]:
    """Which hypotheses BH rejects at level ``q`` (same order as ``p_values``)."""
    _check_q(q)
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return []
    if np.any(np.isnan(p)) or np.any(p < 0) or np.any(p > 1):
        raise ValueError("p-values must be in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    ok = p[order] <= q * np.arange(1, m + 1) / m
    k = int(np.flatnonzero(ok)[-1]) + 1 if ok.any() else 0
    out = np.zeros(m, dtype=bool)
    out[order[:k]] = True
    return [bool(v) for v in out]


def e_benjamini_hochberg(e_values: Sequence[float], q: float) -> list[bool]:
    """Which hypotheses e-BH rejects at level ``q`` given e-values (>= 0)."""
    _check_q(q)
    e = np.asarray(e_values, dtype=np.float64)
    if e.size == 0:
        return []
    if np.any(np.isnan(e)) or np.any(e < 0):
        raise ValueError("e-values must be >= 0")
    m = e.size
    order = np.argsort(-e, kind="stable")
    ok = e[order] >= m / (q * np.arange(1, m + 1))
    k = int(np.flatnonzero(ok)[-1]) + 1 if ok.any() else 0
    out = np.zeros(m, dtype=bool)
    out[order[:k]] = True
    return [bool(v) for v in out]
