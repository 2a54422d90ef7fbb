from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyfleet.server.drift.cohort import CohortStats
from tinyfleet.server.rollout.gates import (
    HEALTH_EVALUATORS,
    Outcome,
    StageStats,
    error_count,
    error_share,
    health_verdicts,
    success_share,
)
from tinyfleet.server.rollout.model import HEALTH_GATES, GateKind, HealthBound, HealthGate


def test_every_health_gate_has_an_evaluator() -> None:
    assert set(HEALTH_EVALUATORS) == set(HEALTH_GATES)


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
    err: float = 0.0,
    conf: float = 0.9,
    lat: float = 1000.0,
    drift: float | None = 0.05,
) -> CohortStats:
    return CohortStats(devices, devices, n, err, conf, lat, drift)


# (gate, bound, canary at the bound, canary just beyond it); control is cohort()
EDGES = [
    (GateKind.DRIFT, 0.25, cohort(drift=0.30), cohort(drift=0.3001)),
    (GateKind.CONFIDENCE_DROP, 0.25, cohort(conf=0.65), cohort(conf=0.6499)),
    (GateKind.ERROR_RATE, 0.25, cohort(err=0.25), cohort(err=0.2501)),
    (GateKind.LATENCY_P95, 1.5, cohort(lat=1500.0), cohort(lat=1500.1)),
]


@pytest.mark.parametrize("gate,bound,at,beyond", EDGES)
def test_health_gates_fire_just_beyond_their_bound(
    gate: GateKind, bound: float, at: CohortStats, beyond: CohortStats
) -> None:
    health = HealthGate(bounds=(HealthBound(gate, bound),), min_samples=1000)
    [v_at] = health_verdicts(health, at, cohort())
    [v_beyond] = health_verdicts(health, beyond, cohort())
    assert v_at.outcome is Outcome.PASS, v_at
    assert v_beyond.outcome is Outcome.FAIL, v_beyond
    assert v_beyond.value is not None and v_beyond.value > bound and v_beyond.bound == bound


@pytest.mark.parametrize("gate,bound,at,beyond", EDGES)
def test_health_gates_wait_for_samples_and_skip_without_control(
    gate: GateKind, bound: float, at: CohortStats, beyond: CohortStats
) -> None:
    health = HealthGate(bounds=(HealthBound(gate, bound),), min_samples=1001)
    assert health_verdicts(health, beyond, cohort())[0].outcome is Outcome.WAIT
    health = HealthGate(bounds=(HealthBound(gate, bound),), min_samples=1000)
    assert health_verdicts(health, beyond, cohort(n=999))[0].outcome is Outcome.WAIT
    assert health_verdicts(health, beyond, cohort(devices=0, n=0))[0].outcome is Outcome.SKIP


def test_drift_waits_without_scores_and_latency_handles_zero_control() -> None:
    health = HealthGate(bounds=(HealthBound(GateKind.DRIFT, 0.1),), min_samples=1)
    assert health_verdicts(health, cohort(drift=None), cohort())[0].outcome is Outcome.WAIT
    lat = HealthGate(bounds=(HealthBound(GateKind.LATENCY_P95, 2.0),), min_samples=1)
    assert health_verdicts(lat, cohort(lat=5.0), cohort(lat=0.0))[0].outcome is Outcome.FAIL
    assert health_verdicts(lat, cohort(lat=0.0), cohort(lat=0.0))[0].outcome is Outcome.PASS


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


@settings(max_examples=200, deadline=None)
@given(
    bound=st.floats(1.0, 3.0),
    cerr=st.floats(0, 1),
    kerr=st.floats(0, 1),
    cconf=st.floats(0, 1),
    kconf=st.floats(0, 1),
    clat=st.floats(1, 1e5),
    klat=st.floats(1, 1e5),
    cdr=st.floats(0, 5),
    kdr=st.floats(0, 5),
)
def test_health_gates_agree_with_their_documented_comparisons(
    bound: float,
    cerr: float,
    kerr: float,
    cconf: float,
    kconf: float,
    clat: float,
    klat: float,
    cdr: float,
    kdr: float,
) -> None:
    canary, control = (
        cohort(err=cerr, conf=cconf, lat=clat, drift=cdr),
        cohort(err=kerr, conf=kconf, lat=klat, drift=kdr),
    )
    frac = bound - 1.0  # a bound in [0, 1] for the share gates
    health = HealthGate(
        bounds=(
            HealthBound(GateKind.DRIFT, bound),
            HealthBound(GateKind.CONFIDENCE_DROP, frac),
            HealthBound(GateKind.ERROR_RATE, frac),
            HealthBound(GateKind.LATENCY_P95, bound),
        ),
        min_samples=1000,
    )
    drift_v, conf_v, err_v, lat_v = (
        v.outcome is Outcome.FAIL for v in health_verdicts(health, canary, control)
    )
    assert drift_v == (cdr - kdr > bound)
    assert conf_v == (kconf - cconf > frac)
    assert err_v == (cerr - kerr > frac)
    assert lat_v == (clat / klat > bound)
