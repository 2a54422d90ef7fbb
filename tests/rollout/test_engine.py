from __future__ import annotations

from dataclasses import replace

import pytest
from rollout_kit import NEW, OLD, Fleet, Run, spec

from tinyfleet.errors import UsageError
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.window import Window
from tinyfleet.server.rollout.engine import Command, command, step, summary
from tinyfleet.server.rollout.events import DeviceStatus
from tinyfleet.server.rollout.gates import Outcome
from tinyfleet.server.rollout.machine import Status
from tinyfleet.server.rollout.model import (
    ErrorThreshold,
    GateAction,
    GateKind,
    HealthBound,
    HealthGate,
    Stage,
)

CANARY_10_50_100 = (
    Stage("canary", devices=("d001", "d002")),
    Stage("ten", percent=10),
    Stage("half", percent=50),
    Stage("all", percent=100),
)


def test_four_stage_rollout_reaches_every_compatible_device() -> None:
    fleet = Fleet.make(40, board=lambda i: "esp32dev" if i % 10 == 0 else "qemu-an386")
    run = Run.start(fleet, spec(*CANARY_10_50_100))
    run.ticks(8)
    assert run.state.status is Status.SUCCEEDED
    incompatible = {d for d in fleet.devices if int(d[1:]) % 10 == 0}
    assert set(run.state.skipped) == incompatible
    assert set(run.state.devices) == set(fleet.devices) - incompatible
    assert all(fleet.devices[d].current == NEW for d in run.state.devices)
    assert all(fleet.devices[d].current == OLD for d in incompatible)
    assert run.replayed() == run.state
    assert run.decisions[-1].release == () and set(run.decisions[3].release) | set().union(
        *(set(d.release) for d in run.decisions)
    ) == set(run.state.devices)
    assert not fleet.holder
    assert summary(run.state)["status"] == "succeeded"


def test_stage_sizes_follow_their_shares() -> None:
    fleet = Fleet.make(40, behaviour=lambda d: "pending")
    run = Run.start(fleet, spec(*CANARY_10_50_100))
    run.tick()
    assert sorted(run.state.devices) == ["d001", "d002"]
    run.cmd(Command.PROMOTE)
    run.tick()
    assert len(run.state.devices) == 4  # floor(40 * 10 %) = 4 cumulative
    run.cmd(Command.PROMOTE)
    run.tick()
    assert len(run.state.devices) == 20
    run.ticks(3)
    assert run.state.status is Status.RUNNING and len(run.state.devices) == 20


def test_error_threshold_aborts_and_every_touched_device_gets_its_previous_version() -> None:
    fleet = Fleet.make(20, behaviour=lambda d: "fail" if d == "d007" else "confirm")
    s = spec(Stage("ten", percent=10), Stage("all", percent=100, error=ErrorThreshold(max_failed=0)))
    run = Run.start(fleet, s)
    run.ticks(5)
    assert run.state.status is Status.ROLLED_BACK
    assert "error_threshold" in run.triggers()
    assert run.state.devices and all(r.status is DeviceStatus.RESTORED for r in run.state.devices.values())
    assert all(fleet.devices[d].current == OLD for d in run.state.devices)
    assert not fleet.holder
    assert run.replayed() == run.state


def test_error_is_checked_before_success_in_the_same_tick() -> None:
    # 3 of 4 confirmed (success_share 0.75 met) and 1 failed (max_failed 0 fired) in one tick: abort.
    fleet = Fleet.make(4, behaviour=lambda d: "fail" if d == "d000" else "confirm")
    s = spec(
        Stage(
            "all", percent=100, success_share=0.75, error=ErrorThreshold(max_failed=0, max_failed_share=None)
        )
    )
    run = Run.start(fleet, s)
    run.tick()
    run.tick()
    assert run.triggers()[:2] == ["start", "error_threshold"]
    assert "success_met" not in run.triggers()


@pytest.mark.parametrize(
    "max_failed,failures,aborts", [(1, 1, False), (1, 2, True), (0, 1, True), (0, 0, False)]
)
def test_error_count_threshold_both_sides(max_failed: int, failures: int, aborts: bool) -> None:
    bad = {f"d{i:03d}" for i in range(failures)}
    fleet = Fleet.make(10, behaviour=lambda d: "fail" if d in bad else "confirm")
    s = spec(
        Stage(
            "all",
            percent=100,
            success_share=0.5,
            error=ErrorThreshold(max_failed=max_failed, max_failed_share=None),
        )
    )
    run = Run.start(fleet, s)
    run.ticks(4)
    assert (run.state.status is Status.ROLLED_BACK) is aborts
    assert (run.state.status is Status.SUCCEEDED) is not aborts


def test_soak_time_is_waited_out_exactly() -> None:
    fleet = Fleet.make(5)
    run = Run.start(fleet, spec(Stage("all", percent=100, soak_s=10)))
    run.tick()  # t=1 assigned
    run.tick()  # t=2 confirmed → soaking since 2
    assert run.state.status is Status.SOAKING and run.state.soak_since == 2.0
    run.tick(9.5)  # t=11.5: 9.5 s < 10
    assert run.state.status is Status.SOAKING
    run.tick(0.5)  # t=12: 10 s
    assert run.state.status is Status.SUCCEEDED


def test_manual_approval_waits_for_promote() -> None:
    fleet = Fleet.make(10)
    run = Run.start(fleet, spec(Stage("canary", count=2), Stage("rest", percent=100, manual_approval=True)))
    run.ticks(5)
    assert run.state.status is Status.WAITING_APPROVAL and len(run.state.devices) == 2
    run.cmd(Command.PROMOTE)
    assert run.state.status is Status.RUNNING
    run.ticks(3)
    assert run.state.status is Status.SUCCEEDED and len(run.state.devices) == 10


def test_first_stage_with_approval_starts_waiting() -> None:
    run = Run.start(Fleet.make(3), spec(Stage("all", percent=100, manual_approval=True)))
    run.tick()
    assert run.state.status is Status.WAITING_APPROVAL and not run.state.devices


def test_pause_stops_assignments_and_gates_until_resume() -> None:
    fleet = Fleet.make(10, behaviour=lambda d: "pending")
    run = Run.start(fleet, spec(Stage("a", count=2), Stage("b", percent=100)))
    run.tick()
    run.cmd(Command.PAUSE)
    for d in run.state.devices:
        fleet.behaviour = lambda d: "confirm"
        fleet.devices[d] = fleet.devices[d].__class__(
            d, "qemu-an386", NEW, outcome=fleet.devices[d].outcome.CONFIRMED
        )
    run.ticks(3)
    assert run.state.status is Status.PAUSED and len(run.state.devices) == 2
    assert run.state.count(DeviceStatus.CONFIRMED) == 2  # results are still recorded
    run.cmd(Command.RESUME)
    run.ticks(3)
    assert run.state.status is Status.SUCCEEDED


@pytest.mark.parametrize(
    "status_cmds,bad",
    [
        ((), Command.RESUME),
        ((Command.PAUSE,), Command.PAUSE),
        ((Command.PAUSE,), Command.PROMOTE),
        ((Command.ABORT,), Command.ABORT),
    ],
)
def test_commands_that_do_not_apply_are_refused(status_cmds: tuple[Command, ...], bad: Command) -> None:
    run = Run.start(Fleet.make(4, behaviour=lambda d: "pending"), spec(Stage("all", percent=100)))
    run.tick()
    for c in status_cmds:
        run.cmd(c)
    with pytest.raises(UsageError, match=f"cannot {bad.value}"):
        command(run.state, bad, 10.0)


def test_abort_before_start_touches_nothing() -> None:
    run = Run.start(Fleet.make(4), spec(Stage("all", percent=100)))
    dec = run.cmd(Command.ABORT)
    assert run.state.status is Status.ABORTED and dec.rollback == ()
    assert step(run.state, run.fleet.snapshot("r1"), 5.0).events == ()


def test_operator_abort_rolls_back_pending_and_confirmed_devices() -> None:
    fleet = Fleet.make(10, behaviour=lambda d: "confirm" if d < "d003" else "pending")
    run = Run.start(fleet, spec(Stage("all", percent=100)))
    run.ticks(2)
    dec = run.cmd(Command.ABORT)
    assert {r.device_id for r in dec.rollback} == set(run.state.devices) and all(
        r.version == OLD for r in dec.rollback
    )
    assert run.state.status is Status.ABORTING
    run.tick()
    assert run.state.status is Status.ROLLED_BACK


def test_aborting_waits_for_devices_that_have_not_reverted() -> None:
    fleet = Fleet.make(3)
    run = Run.start(fleet, spec(Stage("all", percent=100, soak_s=100)))
    run.ticks(2)
    dec = command(run.state, Command.ABORT, run.now)
    run.state, run.events = dec.state, run.events + list(dec.events)  # rollbacks not delivered yet
    run.tick()
    assert run.state.status is Status.ABORTING
    run.fleet.apply("r1", dec)
    run.tick()
    assert run.state.status is Status.ROLLED_BACK


def test_device_held_by_another_rollout_is_not_assigned() -> None:
    fleet = Fleet.make(6)
    fleet.holder["d000"] = "other"
    run = Run.start(fleet, spec(Stage("all", percent=100)))
    run.ticks(3)
    assert "d000" not in run.state.devices and "d000" not in run.state.skipped
    assert run.state.status is Status.SUCCEEDED and len(run.state.devices) == 5


def test_failed_devices_get_their_previous_version_when_the_rollout_succeeds() -> None:
    fleet = Fleet.make(10, behaviour=lambda d: "fail" if d == "d004" else "confirm")
    s = spec(
        Stage(
            "all", percent=100, success_share=0.9, error=ErrorThreshold(max_failed=1, max_failed_share=None)
        )
    )
    run = Run.start(fleet, s)
    run.ticks(3)
    assert run.state.status is Status.SUCCEEDED
    assert [r.device_id for d in run.decisions for r in d.rollback] == ["d004"]


def _health_fleet(
    canary_err: float, canary_conf_bin: int, canary_lat: float, canary_cls: tuple[int, ...]
) -> Fleet:
    fleet = Fleet.make(20)
    fleet.baselines = {
        OLD.key: Baseline(1000, ((1,) * 16,), (500, 500), (0,) * 12 + (250,) * 4),
        NEW.key: Baseline(1000, ((1,) * 16,), (500, 500), (0,) * 12 + (250,) * 4),
    }
    for d in fleet.devices:  # control devices: healthy
        fleet.telemetry[d] = Window(
            OLD.version,
            n=1000,
            err=10,
            lat_p95_us=1000.0,
            cls=(500, 500),
            conf=(0,) * 14 + (1000, 0),
            reports=10,
            first_ts=0,
            last_ts=1,
        )
    fleet.canary_window = Window(
        NEW.version,
        n=1000,
        err=int(canary_err * 1000),
        lat_p95_us=canary_lat,  # type: ignore[attr-defined]
        cls=canary_cls,
        conf=(0,) * canary_conf_bin + (1000,) + (0,) * (15 - canary_conf_bin),
        reports=10,
        first_ts=0,
        last_ts=1,
    )
    return fleet


def _run_health(fleet: Fleet, bound: HealthBound) -> Run:
    s = spec(
        Stage("canary", count=2),
        Stage("all", percent=100),
        health=HealthGate(bounds=(bound,), min_samples=500),
    )
    run = Run.start(fleet, s)
    run.tick()
    for d in run.state.devices:  # canaries now report on the new version
        fleet.telemetry[d] = fleet.canary_window  # type: ignore[attr-defined]
    run.ticks(3)
    return run


HEALTHY = dict(canary_err=0.01, canary_conf_bin=14, canary_lat=1000.0, canary_cls=(500, 500))


@pytest.mark.parametrize(
    "gate,bound,bad,good",
    [
        (GateKind.ERROR_RATE, 0.05, {"canary_err": 0.07}, {"canary_err": 0.03}),  # 0.05: inconclusive
        (GateKind.CONFIDENCE_DROP, 0.1, {"canary_conf_bin": 11}, {"canary_conf_bin": 13}),
        (GateKind.LATENCY_P95, 1.5, {"canary_lat": 1600.0}, {"canary_lat": 1500.0}),
        (GateKind.DRIFT, 0.2, {"canary_cls": (900, 100)}, {"canary_cls": (520, 480)}),
    ],
)
@pytest.mark.parametrize("action", [GateAction.ROLLBACK, GateAction.HOLD])
def test_canary_health_gate_compares_with_the_control_cohort(
    gate: GateKind, bound: float, bad: dict, good: dict, action: GateAction
) -> None:
    run = _run_health(_health_fleet(**{**HEALTHY, **bad}), HealthBound(gate, bound, action))
    expected = Status.ROLLED_BACK if action is GateAction.ROLLBACK else Status.HELD
    assert run.state.status is expected, run.triggers()
    decided = next(e for e in run.events if e.trigger is not None and e.trigger.value.startswith("health_"))
    assert decided.verdicts[0].gate is gate and decided.verdicts[0].outcome is Outcome.FAIL
    assert decided.verdicts[0].value is not None and decided.verdicts[0].value > bound
    run = _run_health(_health_fleet(**{**HEALTHY, **good}), HealthBound(gate, bound, action))
    assert run.state.status is Status.SUCCEEDED, run.triggers()


def test_health_gate_waits_for_samples_and_then_skips_without_control() -> None:
    fleet = _health_fleet(**HEALTHY)  # type: ignore[arg-type]
    s = spec(
        Stage("canary", count=2),
        Stage("all", percent=100),
        health=HealthGate(bounds=(HealthBound(GateKind.ERROR_RATE, 0.01),), min_samples=5000),
    )
    run = Run.start(fleet, s)
    run.ticks(5)
    assert run.state.status is Status.SOAKING and run.state.stage == 0  # waiting for 5000 samples
    wait = [v for v in run.decisions[-1].verdicts if v.gate is GateKind.ERROR_RATE]
    assert wait and wait[0].outcome is Outcome.WAIT
    run.cmd(Command.PROMOTE)
    run.ticks(3)  # the last stage leaves no control cohort: the health gate is skipped
    assert run.state.status is Status.SUCCEEDED


def test_held_rollout_resumes_or_is_promoted_by_an_operator() -> None:
    run = _run_health(
        _health_fleet(**{**HEALTHY, "canary_err": 0.5}),  # type: ignore[arg-type]
        HealthBound(GateKind.ERROR_RATE, 0.05, GateAction.HOLD),
    )
    assert run.state.status is Status.HELD and "error_rate" in run.state.reason
    run.cmd(Command.RESUME)
    run.tick()
    assert run.state.status is Status.HELD  # still unhealthy: held again
    run.cmd(Command.PROMOTE)
    run.ticks(3)
    assert run.state.status is Status.SUCCEEDED


@pytest.mark.parametrize("n,board", [(0, "qemu-an386"), (6, "esp32dev")])
def test_empty_stages_pass_and_incompatible_fleets_are_reported(n: int, board: str) -> None:
    run = Run.start(
        Fleet.make(n, board=lambda i: board), spec(Stage("canary", count=2), Stage("all", percent=100))
    )
    run.ticks(2)
    assert run.state.status is Status.SUCCEEDED and not run.state.devices
    assert len(run.state.skipped) == n
    assert all(
        any("not among the package's boards" in r for r in reasons) for reasons in run.state.skipped.values()
    )
    assert not [a for d in run.decisions for a in d.assign]


def test_devices_released_by_another_rollout_are_picked_up_while_running() -> None:
    fleet = Fleet.make(4, behaviour=lambda d: "pending")
    fleet.holder["d000"] = "other"
    run = Run.start(fleet, spec(Stage("all", percent=100)))
    run.tick()
    assert len(run.state.devices) == 3
    del fleet.holder["d000"]
    run.tick()
    assert "d000" in run.state.devices


def test_abort_of_devices_without_a_previous_model_ends_and_says_so() -> None:
    fleet = Fleet.make(4)
    fleet.devices["d000"] = fleet.devices["d000"].__class__("d000", "qemu-an386", None)
    run = Run.start(fleet, spec(Stage("all", percent=100, soak_s=50)))
    run.ticks(2)
    dec = run.cmd(Command.ABORT)
    assert [r.version for r in dec.rollback if r.device_id == "d000"] == [None]
    assert run.state.devices["d000"].status is DeviceStatus.NO_PREVIOUS
    run.tick()
    assert run.state.status is Status.ROLLED_BACK
    assert summary(run.state)["devices"] == {
        "assigned": 0,
        "confirmed": 0,
        "failed": 0,
        "rollback_issued": 0,
        "restored": 3,
        "no_previous": 1,
        "rollback_refused": 0,
    }


def test_cohort_figures_are_what_the_gates_compare() -> None:
    from tinyfleet.server.rollout.engine import cohort_figures, cohorts

    fleet = _health_fleet(**{**HEALTHY, "canary_err": 0.3})  # type: ignore[arg-type]
    fleet.holder["d019"] = "other"
    run = _run_health(fleet, HealthBound(GateKind.ERROR_RATE, 0.1, GateAction.HOLD))
    assert run.state.status is Status.HELD and run.state.stage == 0
    canary, control = cohorts(run.state, fleet.snapshot("r1"))
    assert len(canary) == 2 and "d019" not in control and len(control) == 17
    c, k = cohort_figures(run.state, fleet.snapshot("r1"))
    assert (c.devices, c.n, k.devices, k.n) == (2, 2000, 17, 17000)
    assert c.error_rate == pytest.approx(0.3) and k.error_rate == pytest.approx(0.01)


def test_stale_telemetry_decides_nothing() -> None:
    fleet = _health_fleet(**{**HEALTHY, "canary_err": 0.5})  # type: ignore[arg-type]
    s = spec(
        Stage("canary", count=2),
        Stage("all", percent=100),
        health=HealthGate(bounds=(HealthBound(GateKind.ERROR_RATE, 0.05),), min_samples=500, window_s=2.0),
    )
    run = Run.start(fleet, s)
    run.tick()
    for d in run.state.devices:
        fleet.telemetry[d] = fleet.canary_window  # type: ignore[attr-defined]  # last report at t=1
    run.ticks(3, dt=5.0)  # now = 16: every window is older than 2 s
    assert run.state.status is Status.SOAKING and run.state.stage == 0
    verdict = next(v for v in run.decisions[-1].verdicts if v.gate is GateKind.ERROR_RATE)
    assert verdict.outcome is Outcome.WAIT


@pytest.mark.parametrize("failures,aborts", [(1, False), (2, True)])
def test_error_share_threshold_both_sides(failures: int, aborts: bool) -> None:
    bad = {f"d{i:03d}" for i in range(failures)}
    fleet = Fleet.make(20, behaviour=lambda d: "fail" if d in bad else "confirm")
    s = spec(Stage("all", percent=100, success_share=0.5, error=ErrorThreshold(max_failed_share=0.05)))
    run = Run.start(fleet, s)
    run.ticks(3)  # 1/20 = 0.05 is not > 0.05; 2/20 = 0.1 is
    assert run.state.status is (Status.ROLLED_BACK if aborts else Status.SUCCEEDED)


def test_a_pause_does_not_restart_the_soak_but_losing_success_does() -> None:
    fleet = Fleet.make(2)
    run = Run.start(fleet, spec(Stage("all", percent=100, soak_s=10)))
    run.ticks(2)  # soaking since t=2
    run.cmd(Command.PAUSE)
    run.tick(5.0)  # t=7
    run.cmd(Command.RESUME)
    run.tick(5.0)  # t=12: 10 s since t=2
    assert run.state.status is Status.SUCCEEDED

    fleet = Fleet.make(2)
    run = Run.start(
        fleet,
        spec(Stage("all", percent=100, soak_s=10, error=ErrorThreshold(max_failed=1, max_failed_share=None))),
    )
    run.ticks(2)
    fleet.devices["d000"] = replace(fleet.devices["d000"], current=OLD)  # reverted after confirming
    run.tick()  # t=3: success lost
    assert run.state.status is Status.RUNNING and run.state.soak_since is None
