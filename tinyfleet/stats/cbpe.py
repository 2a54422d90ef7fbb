"""Label-free accuracy from a confidence histogram (confidence-based performance estimation).

Calibration (compile time, labelled validation data): per confidence bin b, the share of correct
predictions, shrunk toward the bin's confidence when the bin holds few samples:
``acc_b = (correct_b + a · mid_b) / (n_b + a)``, ``a = PRIOR_WEIGHT``.

Estimate (run time, no labels): a cohort whose top-output confidence fell ``c_b`` times in bin b has
expected accuracy ``A = Σ c_b acc_b / N``. Assumption: P(correct | confidence bin) is the same on the
devices as on validation data (no concept shift; covariate shift is fine). Its variance adds the
sampling of the live bins (the mean of acc over N draws) and the error of the calibration itself:

    Var(A) ≈ (Σ π_b acc_b² − A²) / N + Σ π_b² acc_b (1 − acc_b) / (n_b + a),   π_b = c_b / N.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tinyfleet.stats.distributions import norm_isf

__all__ = ["PRIOR_WEIGHT", "AccuracyEstimate", "Calibration", "calibrate", "estimate_accuracy"]

PRIOR_WEIGHT = 2.0


@dataclass(frozen=True)
class Calibration:
    """Per confidence bin: validation samples and correct predictions; ``mid``: bin confidences."""

    n: tuple[int, ...]
    correct: tuple[int, ...]
    mid: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (len(self.n) == len(self.correct) == len(self.mid)) or not self.n:
            raise ValueError("calibration: n, correct and mid must have the same non-zero length")
        for k, c in zip(self.n, self.correct, strict=True):
            if not (isinstance(k, int) and isinstance(c, int)) or k < 0 or not 0 <= c <= k:
                raise ValueError("calibration: counts must be integers with 0 <= correct <= n")
        if not all(0.0 <= m <= 1.0 for m in self.mid):
            raise ValueError("calibration: bin confidences must be in [0, 1]")

    @property
    def accuracy(self) -> np.ndarray:
        n = np.asarray(self.n, dtype=np.float64)
        return (np.asarray(self.correct, dtype=np.float64) + PRIOR_WEIGHT * np.asarray(self.mid)) / (
            n + PRIOR_WEIGHT
        )

    @property
    def samples(self) -> int:
        return int(sum(self.n))


def calibrate(conf_bin: Sequence[int], correct: Sequence[bool], bins: int) -> Calibration:
    """Per-bin counts from validation predictions (bin index of each top confidence, correct or not)."""
    b = np.asarray(conf_bin, dtype=np.int64)
    ok = np.asarray(correct, dtype=bool)
    if b.shape != ok.shape or (b.size and (b.min() < 0 or b.max() >= bins)):
        raise ValueError("calibration: one bin in [0, bins) per prediction")
    n = np.bincount(b, minlength=bins)
    k = np.bincount(b[ok], minlength=bins)
    mid = tuple((i + 0.5) / bins for i in range(bins))
    return Calibration(tuple(int(x) for x in n), tuple(int(x) for x in k), mid)


@dataclass(frozen=True)
class AccuracyEstimate:
    accuracy: float
    se: float  # sqrt(se_sampling² + se_calibration²)
    lower: float
    upper: float
    n: int
    se_sampling: float = 0.0  # shrinks as live inferences arrive
    se_calibration: float = 0.0  # fixed by the validation set: does not shrink with live data


def estimate_accuracy(
    conf_counts: Sequence[int], cal: Calibration, alpha: float = 0.05
) -> AccuracyEstimate | None:
    """Expected accuracy of the inferences behind ``conf_counts``; None when there are none."""
    c = np.asarray(conf_counts, dtype=np.float64)
    if c.size != len(cal.n) or np.any(c < 0) or not np.all(np.isfinite(c)):
        raise ValueError("confidence histogram does not match the calibration bins")
    total = float(c.sum())
    if total <= 0:
        return None
    acc = cal.accuracy
    pi = c / total
    a = float(pi @ acc)
    sampling = max(0.0, float(pi @ (acc * acc)) - a * a) / total
    calib = float(np.sum(pi * pi * acc * (1.0 - acc) / (np.asarray(cal.n) + PRIOR_WEIGHT)))
    se = math.sqrt(sampling + calib)
    z = norm_isf(alpha / 2.0)
    return AccuracyEstimate(
        a,
        se,
        max(0.0, a - z * se),
        min(1.0, a + z * se),
        int(round(total)),
        math.sqrt(sampling),
        math.sqrt(calib),
    )
