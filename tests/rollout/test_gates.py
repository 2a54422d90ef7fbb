from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyfleet.server.drift.cohort import CohortStats
from tinyfleet.server.rollout.gates import (
    EVALUATORS,
    GATE_ALPHA,
    HEALTH_EVALUATORS,
    STAGE_EVALUATORS,
    Outcome,
    StageStats,
    error_count,
    error_share,
    evaluate,
    health_verdicts,
    success_share,
)
from tinyfleet.server.rollout.model import (
    HEALTH_GATES,
    ErrorThreshold,
    GateKind,
    HealthBound,
    HealthGate,
    Stage,
)
from tinyfleet.stats.homogeneity import HomogeneityTest, homogeneity_test
from tinyfleet.stats.sequential import mixture_halfwidth
from tinyfleet.stats.shift import tilt_to_psi


def test_every_health_gate_has_an_evaluator() -> None:
    assert set(HEALTH_EVALUATORS) == set(HEALTH_GATES)


def test_every_gate_kind_has_exactly_one_evaluator() -> None:
    assert frozenset(GateKind) == EVALUATORS
    assert not set(STAGE_EVALUATORS) & set(HEALTH_EVALUATORS)
    stage = Stage("s", count=1, error=ErrorThreshold(max_failed=0))
    health = HealthGate(bounds=(HealthBound(GateKind.ERROR_RATE, 0.02),), min_samples=1)
    stats = StageStats(4, 2, 1)
    got = {
        g: evaluate(g, stats, stage, health, cohort(n=5000, err=400), cohort(n=5000, err=50))
        for g in GateKind
    }
    assert got[GateKind.ERROR_COUNT].outcome is Outcome.FAIL  # 1 > 0
    assert got[GateKind.SUCCESS_SHARE].outcome is Outcome.WAIT  # 2/4 < 1
    assert got[GateKind.ERROR_RATE].outcome is Outcome.FAIL
    assert got[GateKind.DRIFT].outcome is Outcome.SKIP  # not configured


@pytest.mark.parametrize(
    "failed,limit,outcome",
    [(2, 2, Outcome.PASS), (3, 2, Outcome.FAIL), (0, 0, Outcome.PASS), (1, 0, Outcome.FAIL)],
)
def test_error_count_fires_above_max_failed(failed: int, limit: int, outcome: Outcome) -> None:
    v = error_count(StageStats(10, 0, failed), limit)
    assert v.outcome is outcome and v.value == failed and v.bound == limit


@pytest.mark.parametrize(
    "assigned,failed,share,outcome",
    [
        (10, 1, 0.1, Outcome.PASS),  # 0.1 is not > 0.1
        (10, 2, 0.1, Outcome.FAIL),
        (0, 0, 0.0, Outcome.PASS),  # an empty stage never fires
        (3, 0, 0.0, Outcome.PASS),
        (3, 1, 0.0, Outcome.FAIL),
    ],
)
def test_error_share_fires_above_the_share(
    assigned: int, failed: int, share: float, outcome: Outcome
) -> None:
    assert error_share(StageStats(assigned, 0, failed), share).outcome is outcome


@pytest.mark.parametrize(
    "assigned,confirmed,share,outcome",
    [
        (10, 9, 0.9, Outcome.PASS),  # >=
        (10, 8, 0.9, Outcome.WAIT),
        (0, 0, 1.0, Outcome.PASS),  # empty stage: met
        (4, 0, 0.0, Outcome.PASS),
    ],
)
def test_success_share_is_met_at_the_share(
    assigned: int, confirmed: int, share: float, outcome: Outcome
) -> None:
    assert success_share(StageStats(assigned, confirmed, 0), share).outcome is outcome


def test_unset_limits_are_skipped_not_passed_silently() -> None:
    assert error_count(StageStats(5, 0, 5), None).outcome is Outcome.SKIP
    assert error_share(StageStats(5, 0, 5), None).outcome is Outcome.SKIP


def cohort(
    devices: int = 5,
    n: int = 1000,
    err: int = 0,
    conf: tuple[int, ...] = (0,) * 14 + (500, 500),
    lat: float = 1000.0,
    test: HomogeneityTest | None = None,
) -> CohortStats:
    total = sum(conf)
    mean = sum((b + 0.5) / 16 * c for b, c in enumerate(conf)) / total if total else 0.0
    return CohortStats(devices, devices, n, err / n if n else 0.0, mean, lat, 0.0, err, conf, test)


def _verdict(gate: GateKind, bound: float, canary: CohortStats, control: CohortStats, min_samples: int = 1):
    [v] = health_verdicts(
        HealthGate(bounds=(HealthBound(gate, bound),), min_samples=min_samples), canary, control
    )
    return v


def test_error_rate_gate_decides_on_its_always_valid_interval() -> None:
    control = cohort(n=5000, err=50)  # 1 %
    worse = _verdict(GateKind.ERROR_RATE, 0.02, cohort(n=5000, err=400), control)  # 8 %
    assert worse.outcome is Outcome.FAIL and worse.lower is not None and worse.lower > 0
    same = _verdict(GateKind.ERROR_RATE, 0.02, cohort(n=5000, err=50), control)
    assert same.outcome is Outcome.PASS and same.upper is not None and same.upper <= 0.02
    few = _verdict(GateKind.ERROR_RATE, 0.02, cohort(n=100, err=1), cohort(n=100, err=1))
    assert few.outcome is Outcome.WAIT and "inconclusive" in few.detail  # too little evidence either way
    assert few.samples == (100, 100)
    # the interval is the normal-mixture one at GATE_ALPHA with the bound as prior scale
    p1 = p2 = 2 / 102
    h = mixture_halfwidth(p1 * (1 - p1) / 100 + p2 * (1 - p2) / 100, GATE_ALPHA, 0.02)
    assert (few.lower, few.upper) == (pytest.approx(-h), pytest.approx(h))


def _looks(rng: np.random.Generator, p_canary: float, p_control: float, bound: float) -> Outcome:
    """5 canary devices and 20 control devices adding 20 inferences each per look, 25 looks."""
    kc = kk = nc = nk = 0
    for _ in range(25):
        nc += 100
        nk += 400
        kc += int(rng.binomial(100, p_canary))
        kk += int(rng.binomial(400, p_control))
        v = _verdict(GateKind.ERROR_RATE, bound, cohort(n=nc, err=kc), cohort(n=nk, err=kk), 100)
        if v.outcome is not Outcome.WAIT:
            return v.outcome
    return Outcome.WAIT


def test_error_rate_gate_error_rates_by_simulation() -> None:
    """Equal candidate (5 % errors): failed in at most GATE_ALPHA / 2 of 600 runs of 25 looks
    (+3 sd); a candidate with 10 points more errors is failed in >= 95 %."""
    rng = np.random.default_rng(9)
    equal = [_looks(rng, 0.05, 0.05, 0.02) for _ in range(600)]
    limit = GATE_ALPHA / 2 + 3 * math.sqrt(GATE_ALPHA / 2 / 600)
    assert equal.count(Outcome.FAIL) / 600 <= limit
    worse = [_looks(rng, 0.15, 0.05, 0.02) for _ in range(300)]
    assert worse.count(Outcome.FAIL) / 300 >= 0.95


def test_confidence_gate_uses_the_histogram_variance() -> None:
    control = cohort(n=2000, conf=(0,) * 14 + (1000, 1000))
    lower = cohort(n=2000, conf=(0,) * 10 + (1000, 1000) + (0,) * 4)  # mean drops by 4/16
    v = _verdict(GateKind.CONFIDENCE_DROP, 0.1, lower, control)
    assert v.outcome is Outcome.FAIL and v.value == pytest.approx(0.25)
    assert _verdict(GateKind.CONFIDENCE_DROP, 0.1, control, control).outcome is Outcome.PASS


def test_drift_gate_needs_significance_effect_and_resolution() -> None:
    rng = np.random.default_rng(10)
    p = np.full(10, 0.1)
    base = rng.multinomial(5000, p)
    shifted = tilt_to_psi(p, 0.5)
    bad = homogeneity_test(base, rng.multinomial(2000, shifted))
    good = homogeneity_test(base, rng.multinomial(2000, p))
    tiny = homogeneity_test(base, rng.multinomial(30, p))
    control = cohort(test=good)
    assert _verdict(GateKind.DRIFT, 0.1, cohort(test=bad), control).outcome is Outcome.FAIL
    assert _verdict(GateKind.DRIFT, 0.1, cohort(test=good), control).outcome is Outcome.PASS
    assert _verdict(GateKind.DRIFT, 0.1, cohort(test=tiny), control).outcome is Outcome.WAIT
    assert _verdict(GateKind.DRIFT, 0.1, cohort(test=None), control).outcome is Outcome.WAIT


def test_latency_gate_compares_p95_points_until_histograms_arrive() -> None:
    assert _verdict(GateKind.LATENCY_P95, 1.5, cohort(lat=1500.0), cohort()).outcome is Outcome.PASS
    assert _verdict(GateKind.LATENCY_P95, 1.5, cohort(lat=1500.1), cohort()).outcome is Outcome.FAIL
    assert _verdict(GateKind.LATENCY_P95, 2.0, cohort(lat=5.0), cohort(lat=0.0)).outcome is Outcome.FAIL
    assert _verdict(GateKind.LATENCY_P95, 2.0, cohort(lat=0.0), cohort(lat=0.0)).outcome is Outcome.PASS


@pytest.mark.parametrize("gate", list(HEALTH_GATES))
def test_health_gates_wait_for_samples_and_skip_without_control(gate: GateKind) -> None:
    bound = 1.5 if gate is GateKind.LATENCY_P95 else 0.1
    assert _verdict(gate, bound, cohort(), cohort(), 1001).outcome is Outcome.WAIT
    assert _verdict(gate, bound, cohort(), cohort(n=999), 1000).outcome is Outcome.WAIT
    assert _verdict(gate, bound, cohort(), cohort(devices=0, n=0), 1000).outcome is Outcome.SKIP


@settings(max_examples=200, deadline=None)
@given(assigned=st.integers(0, 500), data=st.data())
def test_stage_gates_agree_with_their_documented_comparisons(assigned: int, data: st.DataObject) -> None:
    failed = data.draw(st.integers(0, assigned))
    confirmed = data.draw(st.integers(0, assigned - failed))
    limit = data.draw(st.integers(0, 500))
    share = data.draw(st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.99]))
    need = data.draw(st.sampled_from([0.0, 0.5, 0.9, 0.95, 1.0]))
    s = StageStats(assigned, confirmed, failed)
    assert (error_count(s, limit).outcome is Outcome.FAIL) == (failed > limit)
    assert (error_share(s, share).outcome is Outcome.FAIL) == (assigned > 0 and failed / assigned > share)
    assert (success_share(s, need).outcome is Outcome.PASS) == (assigned == 0 or confirmed / assigned >= need)


def _lat_cohort(rng: np.random.Generator, median_us: float, n: int) -> CohortStats:
    from dataclasses import replace

    from tinyfleet.drift import latency_histogram

    hist = latency_histogram(median_us * rng.lognormal(0.0, 0.25, size=n))
    return replace(cohort(n=n), lat=tuple(int(c) for c in hist))


def test_latency_gate_decides_on_histogram_quantiles() -> None:
    rng = np.random.default_rng(12)
    control = _lat_cohort(rng, 400.0, 20_000)
    slow = _verdict(GateKind.LATENCY_P95, 1.5, _lat_cohort(rng, 1000.0, 3000), control)
    assert slow.outcome is Outcome.FAIL and slow.lower is not None and slow.lower > 1.0
    assert "always-valid" in slow.detail
    equal = [_verdict(GateKind.LATENCY_P95, 1.6, _lat_cohort(rng, 400.0, 3000), control) for _ in range(50)]
    assert all(v.outcome is not Outcome.FAIL for v in equal)
    assert sum(v.outcome is Outcome.PASS for v in equal) >= 40  # 64 bins: ~24 % resolution per bin
    few = _verdict(GateKind.LATENCY_P95, 1.5, _lat_cohort(rng, 400.0, 20), control)
    assert few.outcome is Outcome.WAIT


def test_latency_gate_false_slow_verdicts_by_simulation() -> None:
    """Equal latency, 25 looks of growing cohorts, 300 runs: failed in at most GATE_ALPHA / 2 (+3 sd)."""
    from dataclasses import replace

    from tinyfleet.drift import latency_histogram

    rng = np.random.default_rng(13)
    fails = 0
    for _ in range(300):
        c_hist = np.zeros(64, dtype=np.int64)
        k_hist = np.zeros(64, dtype=np.int64)
        for _look in range(25):
            c_hist += latency_histogram(400.0 * rng.lognormal(0.0, 0.25, size=100))
            k_hist += latency_histogram(400.0 * rng.lognormal(0.0, 0.25, size=400))
            canary = replace(cohort(n=int(c_hist.sum())), lat=tuple(int(x) for x in c_hist))
            control = replace(cohort(n=int(k_hist.sum())), lat=tuple(int(x) for x in k_hist))
            if _verdict(GateKind.LATENCY_P95, 1.1, canary, control, 100).outcome is Outcome.FAIL:
                fails += 1
                break
    assert fails / 300 <= GATE_ALPHA / 2 + 3 * math.sqrt(GATE_ALPHA / 2 / 300)
