"""Two-sample tests of homogeneity on binned counts, and PSI with its null distribution.

Both histograms are samples (the package baseline is a sample of the validation data, the live
window a sample of the device's inputs), so the test is on the 2 × B contingency table of the two
count vectors: under H0 (one distribution behind both), Pearson's X² and the G statistic
(2 Σ O ln(O / E)) are approximately χ²(B' − 1), B' the bins left after merging.

Sparse bins: the χ² approximation needs expected counts of about 5 or more. Bins are merged in
order (adjacent bins) until each merged bin's expected count in the *smaller* sample is at least
``min_expected``; a remainder too small is merged into the last group. The grouping depends only on
the pooled counts, which under H0 carry no information about the split between the samples.

PSI (the symmetric KL divergence of the two binned distributions) relates to the same statistic:
for two samples of sizes n and m from one distribution, ``PSI · n·m/(n + m) ≈ χ²(B − 1)``, so its
null mean is ``(B − 1)(1/n + 1/m)`` and a threshold with false-alarm rate α is
``χ²_{1−α}(B − 1) · (1/n + 1/m)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tinyfleet.stats.distributions import chi2_isf, chi2_sf

__all__ = [
    "MIN_EXPECTED",
    "HomogeneityTest",
    "homogeneity_test",
    "merge_sparse",
    "psi",
    "psi_critical",
    "psi_null_mean",
]

MIN_EXPECTED = 5.0


def _counts(x: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{what}: counts must be finite and >= 0")
    return a


def merge_sparse(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, min_expected: float = MIN_EXPECTED
) -> tuple[np.ndarray, np.ndarray]:
    """Both count vectors with adjacent bins merged so every merged bin expects ``min_expected``.

    Bins empty in both samples are dropped. Returns two vectors of equal length (possibly 1 or 0).
    """
    x, y = _counts(a, "first histogram"), _counts(b, "second histogram")
    if x.size != y.size:
        raise ValueError("histograms have different numbers of bins")
    return _merge(x, y, min_expected)


def _merge(x: np.ndarray, y: np.ndarray, min_expected: float) -> tuple[np.ndarray, np.ndarray]:
    nx, ny = float(x.sum()), float(y.sum())
    if nx <= 0 or ny <= 0:
        return np.zeros(0), np.zeros(0)
    total = nx + ny
    # expected count of a bin with pooled count c in the smaller sample: c * min(nx, ny) / total
    need = min_expected * total / min(nx, ny)
    gx: list[float] = []
    gy: list[float] = []
    cx = cy = 0.0
    for xi, yi in zip(x.tolist(), y.tolist(), strict=True):
        cx += xi
        cy += yi
        if cx + cy >= need:
            gx.append(cx)
            gy.append(cy)
            cx = cy = 0.0
    if cx + cy > 0:
        if gx:
            gx[-1] += cx
            gy[-1] += cy
        else:
            gx.append(cx)
            gy.append(cy)
    return np.asarray(gx), np.asarray(gy)


@dataclass(frozen=True)
class HomogeneityTest:
    """Result of a two-sample test: the statistic, its degrees of freedom and p-value, the sizes."""

    statistic: float
    df: int
    p_value: float
    n: int  # first sample size
    m: int  # second sample size
    bins: int  # bins after merging
    psi: float  # PSI on the merged bins (an effect size; 0 when fewer than 2 bins)


def _g_and_x2(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    nx, ny = float(x.sum()), float(y.sum())
    total = nx + ny
    g = x2 = 0.0
    for o1, o2 in zip(x.tolist(), y.tolist(), strict=True):
        col = (o1 + o2) / total
        for o, e in ((o1, nx * col), (o2, ny * col)):
            if o > 0:
                g += o * math.log(o / e)
            x2 += (o - e) ** 2 / e
    return max(0.0, 2.0 * g), max(0.0, x2)


def psi(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, pseudo: float = 0.5) -> float:
    """PSI of two count vectors, each count plus ``pseudo`` (so empty bins stay finite)."""
    x, y = _counts(a, "first histogram") + pseudo, _counts(b, "second histogram") + pseudo
    if x.size != y.size:
        raise ValueError("histograms have different numbers of bins")
    sx, sy = float(x.sum()), float(y.sum())
    out = 0.0
    for xi, yi in zip(x.tolist(), y.tolist(), strict=True):
        p, q = xi / sx, yi / sy
        out += (q - p) * math.log(q / p)
    return out


def homogeneity_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    method: Literal["g", "pearson"] = "g",
    min_expected: float = MIN_EXPECTED,
) -> HomogeneityTest:
    """Two-sample G-test (default) or Pearson χ² test of one distribution behind ``a`` and ``b``."""
    ca, cb = _counts(a, "first histogram"), _counts(b, "second histogram")
    if ca.size != cb.size:
        raise ValueError("histograms have different numbers of bins")
    x, y = _merge(ca, cb, min_expected)
    n, m = int(round(float(ca.sum()))), int(round(float(cb.sum())))
    if x.size < 2:
        return HomogeneityTest(0.0, 0, 1.0, n, m, int(x.size), 0.0)
    g, x2 = _g_and_x2(x, y)
    stat = g if method == "g" else x2
    df = int(x.size) - 1
    return HomogeneityTest(stat, df, chi2_sf(stat, df), n, m, int(x.size), psi(x, y))


def psi_null_mean(bins: int, n: float, m: float) -> float:
    """Expected PSI of two samples of sizes n, m from one distribution on ``bins`` bins."""
    if bins < 2 or n <= 0 or m <= 0:
        raise ValueError("need at least 2 bins and positive sample sizes")
    return (bins - 1) * (1.0 / n + 1.0 / m)


def psi_critical(bins: int, n: float, m: float, alpha: float) -> float:
    """The PSI a single test at level ``alpha`` would call significant at sizes n, m."""
    if bins < 2 or n <= 0 or m <= 0:
        raise ValueError("need at least 2 bins and positive sample sizes")
    if not 0.0 < alpha < 1.0 or math.isnan(alpha):
        raise ValueError("alpha must be in (0, 1)")
    return chi2_isf(alpha, bins - 1) * (1.0 / n + 1.0 / m)
