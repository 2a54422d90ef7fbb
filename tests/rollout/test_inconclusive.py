"""An inconclusive ML health gate holds a soaked stage until its evidence suffices, or until
``health.max_wait_s`` has passed, then the health ``on_timeout`` action (hold or rollback)."""

from __future__ import annotations

import pytest
from rollout_kit import NEW, OLD, Fleet, Run, spec

from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.window import Window
from tinyfleet.server.rollout.gates import Outcome
from tinyfleet.server.rollout.machine import Status
from tinyfleet.server.rollout.model import GateAction, GateKind, HealthBound, HealthGate, Stage


def _window(version: str, n: int, err: int) -> Window:
    return Window(
        version,
        n=n,
        err=err,
        cls=(n // 2, n - n // 2),
        conf=(0,) * 14 + (n, 0),
        reports=5,
        first_ts=0,
        last_ts=1,
    )


def _run(canary_err: int, max_wait_s: float | None, on_timeout: GateAction) -> Run:
    fleet = Fleet.make(20)
    base = Baseline(1000, ((1,) * 16,), (500, 500), (0,) * 14 + (1000, 0))
    fleet.baselines = {OLD.key: base, NEW.key: base}
    fleet.telemetry = {d: _window(OLD.version, 1000, 10) for d in fleet.devices}  # control: 1 % errors
    health = HealthGate(
        bounds=(HealthBound(GateKind.ERROR_RATE, 0.05),),
        min_samples=100,
        max_wait_s=max_wait_s,
        on_timeout=on_timeout,
    )
    run = Run.start(
        fleet, spec(Stage("canary", count=2, soak_s=5.0), Stage("all", percent=100), health=health)
    )
    run.tick()
    for d in run.state.devices:
        fleet.telemetry[d] = _window(NEW.version, 1000, canary_err)
    return run


def test_inconclusive_gate_holds_the_stage_without_a_limit() -> None:
    run = _run(50, None, GateAction.ROLLBACK)  # canary 5 % vs control 1 %: 0.04 vs bound 0.05, unresolved
    run.ticks(100)
    assert run.state.status is Status.SOAKING and run.state.stage == 0
    [v] = [v for v in run.decisions[-1].verdicts if v.gate is GateKind.ERROR_RATE]
    assert v.outcome is Outcome.WAIT and v.lower is not None and v.upper is not None
    assert v.lower < 0.05 < v.upper


@pytest.mark.parametrize(
    "action,status", [(GateAction.ROLLBACK, Status.ROLLED_BACK), (GateAction.HOLD, Status.HELD)]
)
def test_inconclusive_gate_times_out_into_the_configured_action(action: GateAction, status: Status) -> None:
    run = _run(50, 20.0, action)
    run.ticks(15)
    assert run.state.status is Status.SOAKING  # soaked, still inside max_wait_s
    run.ticks(20)
    assert run.state.status is status, run.triggers()
    assert "inconclusive" in run.state.reason and "max_wait_s 20" in run.state.reason


def test_conclusive_gates_are_not_affected_by_the_limit() -> None:
    run = _run(10, 0.0, GateAction.ROLLBACK)  # canary as good as control: passes
    run.ticks(20)
    assert run.state.status is Status.SUCCEEDED, run.triggers()


def test_max_wait_is_validated() -> None:
    from tinyfleet.errors import UsageError

    with pytest.raises(UsageError):
        HealthGate(max_wait_s=-1.0).validate()
