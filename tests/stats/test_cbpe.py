"""Label-free accuracy (CBPE): exact on a known calibration, interval coverage by simulation."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfleet.stats.cbpe import PRIOR_WEIGHT, Calibration, calibrate, estimate_accuracy

BINS = 16


def test_estimate_is_the_count_weighted_bin_accuracy() -> None:
    cal = Calibration(n=(100, 100), correct=(50, 90), mid=(0.25, 0.75))
    acc0 = (50 + PRIOR_WEIGHT * 0.25) / (100 + PRIOR_WEIGHT)
    acc1 = (90 + PRIOR_WEIGHT * 0.75) / (100 + PRIOR_WEIGHT)
    est = estimate_accuracy([30, 70], cal)
    assert est is not None
    assert est.accuracy == pytest.approx(0.3 * acc0 + 0.7 * acc1)
    assert est.lower < est.accuracy < est.upper
    assert estimate_accuracy([0, 0], cal) is None


def test_calibrate_counts_per_bin() -> None:
    cal = calibrate([0, 0, 3, 3, 3], [True, False, True, True, False], 4)
    assert cal.n == (2, 0, 0, 3) and cal.correct == (1, 0, 0, 2)
    with pytest.raises(ValueError):
        calibrate([4], [True], 4)
    with pytest.raises(ValueError):
        Calibration(n=(1,), correct=(2,), mid=(0.5,))


def test_interval_covers_the_expected_accuracy() -> None:
    """Validation 2000 samples, live 500 from a shifted confidence mix; 95 % interval covers the
    live population's expected accuracy in [0.93, 0.975] of 2000 runs (sd of the rate 0.005)."""
    rng = np.random.default_rng(3)
    true_acc = np.clip(np.linspace(0.05, 1.0, BINS) ** 0.8, 0, 1)
    val_p = rng.dirichlet(np.full(BINS, 1.0))
    live_p = rng.dirichlet(np.full(BINS, 1.0))
    target = float(live_p @ true_acc)
    cover = 0
    for _ in range(2000):
        b = rng.choice(BINS, size=2000, p=val_p)
        ok = rng.random(2000) < true_acc[b]
        cal = calibrate(b, ok, BINS)
        est = estimate_accuracy(rng.multinomial(500, live_p), cal)
        assert est is not None
        cover += est.lower <= target <= est.upper
    assert 0.93 <= cover / 2000 <= 0.975
