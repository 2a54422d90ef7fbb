"""A quantile of a fixed-bin histogram, with a distribution-free interval.

Histograms with fixed edges merge exactly (counts add) across devices and periods, so a cohort's
quantile comes from the merged counts. Point estimate: the bin where the cumulative count reaches
``q·N``, interpolated geometrically inside it (the bins are log-spaced). Interval: the order
statistics X_(l) and X_(u) with ranks ``N q ± z sqrt(N q (1 − q))`` bracket the true quantile with
probability about 1 − α (the binomial argument behind every distribution-free quantile interval);
from a histogram we only know the bin of each order statistic, so the interval runs from the lower
edge of X_(l)'s bin to the upper edge of X_(u)'s bin, which only widens it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tinyfleet.stats.distributions import norm_isf

__all__ = ["QuantileEstimate", "histogram_quantile", "log_edges"]


def log_edges(lo: float, hi: float, bins: int) -> tuple[float, ...]:
    """``bins + 1`` log-spaced edges from ``lo`` to ``hi``."""
    if not (0 < lo < hi and bins >= 1):
        raise ValueError("need 0 < lo < hi and bins >= 1")
    r = math.log(hi / lo)
    return tuple(lo * math.exp(r * i / bins) for i in range(bins + 1))


@dataclass(frozen=True)
class QuantileEstimate:
    q: float
    value: float
    lower: float
    upper: float
    n: int


def _bin_of_rank(cum: np.ndarray, rank: int) -> int:
    """Index of the bin holding the ``rank``-th smallest value (1-based)."""
    return int(np.searchsorted(cum, rank, side="left"))


def histogram_quantile(
    counts: Sequence[int],
    edges: Sequence[float],
    q: float,
    alpha: float = 0.05,
    rank_halfwidth: float | None = None,
) -> QuantileEstimate | None:
    """The ``q`` quantile of a histogram (``len(edges) == len(counts) + 1``); None when empty.

    ``rank_halfwidth`` (in probability units, e.g. an always-valid half-width for a proportion)
    replaces the fixed-sample ``z sqrt(q(1 − q)/n)``. The interval ends are bin edges: in-bin
    interpolation would be narrower but biased (up to a bin's width where the density slopes)."""
    c = np.asarray(counts, dtype=np.int64)
    e = np.asarray(edges, dtype=np.float64)
    if e.size != c.size + 1 or np.any(np.diff(e) <= 0) or e[0] <= 0:
        raise ValueError("edges must be increasing, positive, one more than the bins")
    if np.any(c < 0):
        raise ValueError("counts must be >= 0")
    if not 0.0 < q < 1.0:
        raise ValueError("q must be in (0, 1)")
    n = int(c.sum())
    if n == 0:
        return None
    cum = np.cumsum(c)
    target = q * n
    i = int(np.searchsorted(cum, target, side="left"))
    below = float(cum[i - 1]) if i > 0 else 0.0
    frac = (target - below) / float(c[i]) if c[i] else 0.5
    value = float(e[i] * (e[i + 1] / e[i]) ** min(1.0, max(0.0, frac)))
    if rank_halfwidth is None:
        half = norm_isf(alpha / 2.0) * math.sqrt(n * q * (1.0 - q))
    else:
        half = rank_halfwidth * n
    lo_rank = max(1, math.floor(target - half))
    hi_rank = min(n, math.ceil(target + half) + 1)
    lower = float(e[_bin_of_rank(cum, lo_rank)])
    upper = float(e[_bin_of_rank(cum, hi_rank) + 1])
    return QuantileEstimate(q, value, lower, upper, n)
