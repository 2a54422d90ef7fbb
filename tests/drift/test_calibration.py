"""Calibration from the compiler to the gate: per-bin counts in the package, the server's label-free
accuracy per cohort, and the est_accuracy_drop gate's error rates by seeded simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinyfleet.compiler.baseline import calibration, drift_baseline
from tinyfleet.errors import DataError
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.cohort import CohortStats, cohort_stats
from tinyfleet.server.drift.window import Window
from tinyfleet.server.rollout.gates import GATE_ALPHA, Outcome, health_verdicts
from tinyfleet.server.rollout.model import GateKind, HealthBound, HealthGate
from tinyfleet.stats.cbpe import Calibration, estimate_accuracy

MIDS = tuple((b + 0.5) / 16 for b in range(16))


def test_compiler_counts_correct_predictions_per_confidence_bin() -> None:
    # top int8 value q falls in bin (q + 128) >> 4: 127 → 15, 0 → 8, -100 → 1
    out = np.array([[127, -128], [-128, 127], [0, -50], [-128, -100]], dtype=np.int8)
    y = np.array([0, 0, 0, 1])
    cal = calibration(out, y)
    assert cal is not None
    assert cal["n"][15] == 2 and cal["correct"][15] == 1
    assert cal["n"][8] == 1 and cal["correct"][8] == 1
    assert cal["n"][1] == 1 and cal["correct"][1] == 1
    assert sum(cal["n"]) == 4
    assert calibration(out, None) is None
    base = drift_baseline(np.zeros((4, 3), dtype=np.int8), out, 1, y)
    assert base["n"] == 4 and base["calibration"] == cal
    assert "calibration" not in drift_baseline(np.zeros((4, 3), dtype=np.int8), out, 1)


def _manifest_baseline(cal: dict | None) -> dict:
    b = {
        "n": 10,
        "input": {"bins": 16, "groups": 1, "hist": [[1] * 16]},
        "output_classes": {"counts": [5, 5]},
        "confidence": {"bins": 16, "hist": [0] * 15 + [10]},
    }
    if cal is not None:
        b["calibration"] = cal
    return b


def test_server_reads_calibration_and_old_packages_keep_working() -> None:
    assert Baseline.from_manifest(_manifest_baseline(None)).calibration is None
    cal = {"bins": 16, "n": [0] * 15 + [10], "correct": [0] * 15 + [9]}
    got = Baseline.from_manifest(_manifest_baseline(cal)).calibration
    assert got is not None and got.n[15] == 10 and got.correct[15] == 9
    for bad in ({"bins": 16, "n": [1] * 16, "correct": [2] * 16}, {"n": [1] * 3, "correct": [0] * 3}, [1]):
        with pytest.raises(DataError):
            Baseline.from_manifest(_manifest_baseline(bad))  # type: ignore[arg-type]


def test_cohort_estimate_pools_versions_with_their_own_calibration() -> None:
    cal_a = Calibration((0,) * 15 + (100,), (0,) * 15 + (90,), MIDS)
    cal_b = Calibration((0,) * 15 + (100,), (0,) * 15 + (50,), MIDS)
    base = Baseline(10, ((1,) * 16,), (5, 5), (0,) * 15 + (10,))
    bases = {
        "m@1": Baseline(**{**base.__dict__, "calibration": cal_a}),
        "m@2": Baseline(**{**base.__dict__, "calibration": cal_b}),
    }
    w = Window("1", n=300, conf=(0,) * 15 + (300,), cls=(150, 150), reports=1)
    w2 = Window("2", n=100, conf=(0,) * 15 + (100,), cls=(50, 50), reports=1)
    stats = cohort_stats([("m@1", w), ("m@2", w2)], bases)
    a, b = estimate_accuracy(w.conf, cal_a), estimate_accuracy(w2.conf, cal_b)
    assert a is not None and b is not None and stats.est_accuracy is not None
    assert stats.est_accuracy == pytest.approx(0.75 * a.accuracy + 0.25 * b.accuracy)
    assert stats.est_accuracy_se == pytest.approx(
        math.sqrt(0.75**2 * a.se_sampling**2 + 0.25**2 * b.se_sampling**2)
    )
    assert stats.est_accuracy_cal_se == pytest.approx(
        math.sqrt(0.75**2 * a.se_calibration**2 + 0.25**2 * b.se_calibration**2)
    )
    none = cohort_stats([("m@1", w)], {"m@1": base})
    assert none.est_accuracy is None


# a calibrated model: accuracy rises with confidence
TRUE_ACC = np.clip(np.asarray(MIDS) ** 1.2 + 0.05, 0, 1)
VAL_P = np.concatenate([np.zeros(6), np.linspace(1, 6, 10)])
VAL_P /= VAL_P.sum()


def _worse(p: np.ndarray, drop: float) -> np.ndarray:
    """Confidence mix of a model ``drop`` accuracy points worse (mass moved to low bins)."""
    lo, hi = 0.0, 30.0
    for _ in range(60):
        s = 0.5 * (lo + hi)
        q = p * np.exp(-s * np.asarray(MIDS))
        q /= q.sum()
        lo, hi = (s, hi) if float((p - q) @ TRUE_ACC) < drop else (lo, s)
    return q


def _calibration(rng: np.random.Generator, validation: int) -> Calibration:
    b = rng.choice(16, size=validation, p=VAL_P)
    ok = rng.random(validation) < TRUE_ACC[b]
    return Calibration(
        tuple(int(x) for x in np.bincount(b, minlength=16)),
        tuple(int(x) for x in np.bincount(b[ok], minlength=16)),
        MIDS,
    )


def _cohort(conf: np.ndarray, cal: Calibration, devices: int) -> CohortStats:
    est = estimate_accuracy(conf.astype(int).tolist(), cal)
    assert est is not None
    n = int(conf.sum())
    return CohortStats(
        devices, devices, n, 0.0, 0.0, 0.0, None, est_accuracy=est.accuracy, est_accuracy_se=est.se
    )


def _canary(rng: np.random.Generator, canary_p: np.ndarray, validation: int = 10_000) -> Outcome:
    """5 canary devices and 20 control devices, 50 inferences each per look, up to 500 each; each
    model calibrated on its own ``validation`` labelled samples."""
    cal_new, cal_old = _calibration(rng, validation), _calibration(rng, validation)
    health = HealthGate(bounds=(HealthBound(GateKind.EST_ACCURACY_DROP, 0.02),), min_samples=100)
    canary, control = np.zeros(16), np.zeros(16)
    for _ in range(10):
        canary += rng.multinomial(250, canary_p)
        control += rng.multinomial(1000, VAL_P)
        [v] = health_verdicts(health, _cohort(canary, cal_new, 5), _cohort(control, cal_old, 20))
        if v.outcome is not Outcome.WAIT:
            return v.outcome
    return Outcome.WAIT


def test_est_accuracy_gate_stops_a_five_point_worse_candidate_and_spares_an_equal_one() -> None:
    """400 runs each: the 5-point-worse candidate is stopped in >= 95 %; the equal one in at most
    GATE_ALPHA / 2 = 1 % (+3 sd of that rate)."""
    rng = np.random.default_rng(21)
    worse = [_canary(rng, _worse(VAL_P, 0.05)) for _ in range(400)]
    assert worse.count(Outcome.FAIL) / 400 >= 0.95
    equal = [_canary(rng, VAL_P) for _ in range(400)]
    assert equal.count(Outcome.FAIL) / 400 <= GATE_ALPHA / 2 + 3 * math.sqrt(GATE_ALPHA / 2 / 400)


def test_est_accuracy_gate_waits_without_calibration() -> None:
    health = HealthGate(bounds=(HealthBound(GateKind.EST_ACCURACY_DROP, 0.02),), min_samples=1)
    blank = CohortStats(5, 5, 1000, 0.0, 0.0, 0.0, None)
    [v] = health_verdicts(health, blank, blank)
    assert v.outcome is Outcome.WAIT and "calibration" in v.detail
