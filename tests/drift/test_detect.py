"""The evidence-based drift detector: calibrated p-values, detection of a change after hours of
healthy history, the effect bound, clearing, and the evidence it reports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.drift.fleetsim import Truth
from tinyfleet.errors import UsageError
from tinyfleet.server.drift.detect import DetectorConfig, Subject, decide, evidence, scan_windows

PERIOD = 60.0  # seconds between reports
RATE = 60  # inferences per report
CFG = DetectorConfig(interval_s=PERIOD, window_s=3600.0)


def test_scan_windows_double_up_to_the_window() -> None:
    assert scan_windows(CFG) == [60, 120, 240, 480, 960, 1920, 3600]
    with pytest.raises(UsageError):
        DetectorConfig(interval_s=600, window_s=60)
    assert CFG.alpha_look == pytest.approx(0.01 * 60 / 86400)


def test_adjusted_p_value_is_calibrated_under_no_drift() -> None:
    """1500 healthy devices with an hour of history each: the share with p_adjusted <= 0.05 is at
    most 0.05 (+3 sd), while the smallest raw p of the same 42 tests is below 0.05 far more often."""
    rng = np.random.default_rng(1)
    truth = Truth(rng)
    base = truth.baseline(2000)
    adjusted = raw = 0
    trials = 1500
    for _ in range(trials):
        reports = [truth.report(PERIOD * i, RATE) for i in range(60)]
        ev = evidence(reports, base, PERIOD * 59, None, CFG)
        assert ev is not None and ev.tests == 42  # 7 windows × 3 signals × (16 bins, 4 coarse groups)
        adjusted += ev.p_adjusted <= 0.05
        raw += ev.p_value <= 0.05
    assert adjusted / trials <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)
    assert raw / trials >= 0.2


def _fleet(
    rng: np.random.Generator, devices: int, drifting: set[int], shift_at: float, psi: float, end: float
):
    truth = Truth(rng)
    base = truth.baseline(2000)
    reports = {
        d: [
            truth.report(t, RATE, psi if d in drifting and t > shift_at else 0.0)
            for t in np.arange(PERIOD, end + 1, PERIOD)
        ]
        for d in range(devices)
    }
    return base, reports


def _run(base, reports, looks: list[float]) -> dict[int, float]:
    """Looks at the given times; returns when each device was first alerted."""
    state: dict[int, tuple[bool, float | None]] = {d: (False, None) for d in reports}
    raised: dict[int, float] = {}
    for now in looks:
        subjects = [
            Subject(str(d), [r for r in rs if r.ts <= now], base, *state[d]) for d, rs in reports.items()
        ]
        for dec in decide(subjects, now, CFG):
            d = int(dec.key)
            if dec.changed:
                state[d] = (dec.active, now)
                if dec.active:
                    raised.setdefault(d, now)
                    assert dec.evidence is not None and dec.evidence.p_adjusted <= CFG.alpha_look * 20
                    assert "excess PSI" in dec.reason and "BH level" in dec.reason
    return raised


def test_a_shift_after_hours_of_history_is_caught_within_two_periods_of_300_inferences() -> None:
    """20 devices, 2 h healthy, then 4 of them shift by input PSI 0.3: alerted no later than two
    periods after their 300th shifted inference (5 periods of 60); no healthy device alerted."""
    rng = np.random.default_rng(2)
    shift_at = 7200.0
    base, reports = _fleet(rng, 20, {0, 1, 2, 3}, shift_at, 0.3, shift_at + 12 * PERIOD)
    raised = _run(base, reports, [shift_at + k * PERIOD for k in range(1, 13)])
    assert set(raised) == {0, 1, 2, 3}
    assert max(raised.values()) <= shift_at + (5 + 2) * PERIOD


def test_significant_but_small_effects_do_not_alert() -> None:
    """A shift of input PSI 0.04 on many inferences is significant but below min_effect 0.1."""
    rng = np.random.default_rng(3)
    truth = Truth(rng)
    base = truth.baseline(20_000)
    reports = [truth.report(PERIOD * i, 2000, 0.04) for i in range(1, 61)]
    [dec] = decide([Subject("d", reports, base)], PERIOD * 60, CFG)
    assert not dec.active and dec.evidence is not None
    assert dec.evidence.p_adjusted < 1e-6
    assert "but excess PSI" in dec.reason


def test_an_alert_clears_when_the_device_is_healthy_again() -> None:
    rng = np.random.default_rng(4)
    truth = Truth(rng)
    base = truth.baseline(2000)
    drifted = [truth.report(PERIOD * i, RATE, 0.5) for i in range(1, 11)]
    [dec] = decide([Subject("d", drifted, base)], PERIOD * 10, CFG)
    assert dec.active and dec.changed
    healthy = [truth.report(PERIOD * i, RATE) for i in range(11, 21)]
    [still] = decide([Subject("d", drifted + healthy[:2], base, True, PERIOD * 10)], PERIOD * 12, CFG)
    assert still.active and not still.changed  # too few inferences since the raise
    [cleared] = decide([Subject("d", drifted + healthy, base, True, PERIOD * 10)], PERIOD * 20, CFG)
    assert not cleared.active and cleared.changed and "cleared" in cleared.reason


def test_too_little_data_decides_nothing() -> None:
    rng = np.random.default_rng(5)
    truth = Truth(rng)
    base = truth.baseline(500)
    [dec] = decide([Subject("d", [truth.report(10.0, 5)], base)], 10.0, CFG)
    assert not dec.active and not dec.changed and dec.evidence is None


def test_counts_beyond_a_reports_inferences_weigh_no_more_than_its_inferences() -> None:
    """A hostile report claiming 10^9 class counts for 60 inferences is scaled to 60: the fleet's
    merged evidence is not swamped by it."""
    rng = np.random.default_rng(6)
    truth = Truth(rng)
    base = truth.baseline(2000)
    healthy = [truth.report(PERIOD * i, RATE) for i in range(1, 31)]
    bad = truth.report(PERIOD * 30, RATE)
    hostile = type(bad)(bad.ts, bad.n, bad.input_hist, [10**9] + [0] * 9, bad.conf)
    ev = evidence(healthy + [hostile], base, PERIOD * 30, None, CFG)
    ev_fair = evidence(
        healthy + [type(bad)(bad.ts, bad.n, bad.input_hist, [RATE] + [0] * 9, bad.conf)],
        base,
        PERIOD * 30,
        None,
        CFG,
    )
    assert ev is not None and ev_fair is not None
    assert ev.statistic == pytest.approx(ev_fair.statistic) and ev.p_adjusted == pytest.approx(
        ev_fair.p_adjusted
    )
