"""Drift bins and scores: the same fixed bins on the compiler (baseline), devices (telemetry) and server.

Bins (integer arithmetic an MCU does in one shift):

- input: 16 bins over int8, ``bin(q) = (q + 128) >> 4``; the flattened input is split into ``G``
  feature groups, element ``i`` belongs to group ``i % G``;
- output classes: counts of the arg-max class;
- confidence: 16 bins of the top int8 output, ``bin(q_top) = (q_top + 128) >> 4`` (for a softmax
  output with scale 1/256 and zero point -128 that is ``floor(16 * p_top)``).

Scores between a reference histogram and a live one (both count vectors):

- PSI = Σ (a − e) · ln(a / e) over smoothed proportions; < 0.1 stable, 0.1–0.25 moderate, > 0.25
  significant (industry practice);
- Jensen–Shannon distance, base 2, in [0, 1] (the square root of the JS divergence);
- KS on the binned CDF: the largest gap between the two cumulative distributions.

Latency: ``LAT_BINS`` = 64 fixed log-spaced bins, edges ``LAT_EDGES_US[i] = 10 · 10^(6 i / 64)`` µs
(10 µs to 10 s, each about 24 % wider than the one before); an inference of ``us`` microseconds counts in
``latency_bin(us)`` (below 10 µs: bin 0; 10 s or more: the last bin). Histograms with fixed edges add
up across devices and periods, so a cohort's p95 is a quantile of its merged counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = [
    "LAT_BINS",
    "LAT_EDGES_US",
    "N_BINS",
    "PSI_MODERATE",
    "PSI_SIGNIFICANT",
    "Metric",
    "class_counts",
    "confidence_histogram",
    "input_histogram",
    "js_distance",
    "ks_binned",
    "latency_bin",
    "latency_histogram",
    "psi",
    "psi_severity",
    "score",
    "trim_zeros",
]

N_BINS = 16
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25
Metric = Literal["psi", "js", "ks"]
LAT_BINS = 64
LAT_EDGES_US: tuple[float, ...] = tuple(10.0 * 10.0 ** (6.0 * i / LAT_BINS) for i in range(LAT_BINS + 1))


def latency_bin(us: float) -> int:
    """The latency bin of one inference of ``us`` microseconds."""
    if not us >= LAT_EDGES_US[1]:  # also NaN
        return 0
    return min(LAT_BINS - 1, int(math.floor(LAT_BINS * math.log10(us / 10.0) / 6.0)))


def trim_zeros(counts: Sequence[int] | np.ndarray) -> list[int]:
    """Counts without their trailing zero bins (a shorter ``lat`` list in ``tm`` means zeros)."""
    out = [int(c) for c in counts]
    while out and out[-1] == 0:
        out.pop()
    return out


def latency_histogram(us: Sequence[float] | np.ndarray) -> np.ndarray:
    """Counts of many inferences' latencies in the ``LAT_BINS`` bins."""
    a = np.asarray(us, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        idx = np.floor(LAT_BINS * np.log10(a / 10.0) / 6.0)
    idx = np.clip(np.nan_to_num(idx, nan=0.0, neginf=0.0, posinf=LAT_BINS - 1), 0, LAT_BINS - 1).astype(
        np.int64
    )
    return np.bincount(idx, minlength=LAT_BINS).astype(np.int64)


def _as_2d(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != np.int8:
        raise ValueError(f"expected int8 values, got {a.dtype}")
    return a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)


def input_histogram(x_int8: np.ndarray, groups: int = 1) -> np.ndarray:
    """Counts per feature group and bin, shape (groups, 16), for a batch of int8 inputs (N, ...)."""
    flat = _as_2d(x_int8)
    if groups < 1 or groups > flat.shape[1]:
        raise ValueError(f"groups must be 1..{flat.shape[1]}")
    bins = (flat.astype(np.int16) + 128) >> 4
    group_of = np.arange(flat.shape[1]) % groups
    out = np.zeros((groups, N_BINS), dtype=np.int64)
    for g in range(groups):
        out[g] = np.bincount(bins[:, group_of == g].ravel(), minlength=N_BINS)
    return out


def class_counts(y_int8: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Counts of the arg-max class over a batch of int8 outputs (N, classes)."""
    y = _as_2d(y_int8)
    c = n_classes or y.shape[1]
    return np.bincount(np.argmax(y, axis=1), minlength=c).astype(np.int64)


def confidence_histogram(y_int8: np.ndarray) -> np.ndarray:
    """Counts of the top output value in 16 bins, shape (16,)."""
    y = _as_2d(y_int8)
    top = np.max(y.astype(np.int16), axis=1)
    return np.bincount((top + 128) >> 4, minlength=N_BINS).astype(np.int64)


def _proportions(counts: Sequence[float] | np.ndarray, eps: float) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64).ravel()
    if c.size == 0 or np.any(c < 0) or not np.all(np.isfinite(c)):
        raise ValueError("histogram counts must be finite and non-negative")
    total = c.sum()
    if total <= 0:
        raise ValueError("histogram is empty")
    p: np.ndarray = c / total
    if eps > 0:
        p = (p + eps) / (1.0 + eps * p.size)
    return p


def _check_same_bins(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> None:
    if np.asarray(a).size != np.asarray(b).size:
        raise ValueError("histograms have different numbers of bins")


def psi(
    reference: Sequence[float] | np.ndarray, live: Sequence[float] | np.ndarray, eps: float = 1e-4
) -> float:
    """Population stability index of ``live`` against ``reference`` (smoothed so empty bins are finite)."""
    _check_same_bins(reference, live)
    e, a = _proportions(reference, eps), _proportions(live, eps)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(reference: Sequence[float] | np.ndarray, live: Sequence[float] | np.ndarray) -> float:
    """Jensen–Shannon distance (base 2): 0 for equal distributions, 1 for disjoint ones."""
    _check_same_bins(reference, live)
    p, q = _proportions(reference, 0.0), _proportions(live, 0.0)
    m = 0.5 * (p + q)

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    div = 0.5 * kl(p) + 0.5 * kl(q)
    return math.sqrt(max(0.0, min(1.0, div)))


def ks_binned(reference: Sequence[float] | np.ndarray, live: Sequence[float] | np.ndarray) -> float:
    """Kolmogorov–Smirnov statistic on the binned CDFs: max |F_ref − F_live| over bin edges."""
    _check_same_bins(reference, live)
    p, q = _proportions(reference, 0.0), _proportions(live, 0.0)
    return float(np.max(np.abs(np.cumsum(p) - np.cumsum(q))))


def score(
    metric: Metric, reference: Sequence[float] | np.ndarray, live: Sequence[float] | np.ndarray
) -> float:
    if metric == "psi":
        return psi(reference, live)
    if metric == "js":
        return js_distance(reference, live)
    if metric == "ks":
        return ks_binned(reference, live)
    raise ValueError(f"unknown drift metric {metric!r} (psi, js, ks)")


def psi_severity(value: float) -> Literal["stable", "moderate", "significant"]:
    if value < PSI_MODERATE:
        return "stable"
    if value <= PSI_SIGNIFICANT:
        return "moderate"
    return "significant"
