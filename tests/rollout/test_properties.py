"""Hypothesis properties of the rollout engine over random fleets, specs, device behaviour and
operator commands (acceptance of issue 4)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rollout_kit import NEW, OLD, PKG, Fleet, Run

from tinyfleet import drift as tinyfleet_drift
from tinyfleet.errors import UsageError
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.window import Window
from tinyfleet.server.rollout.engine import Command
from tinyfleet.server.rollout.events import DeviceStatus, Event, RolloutState, replay
from tinyfleet.server.rollout.gates import Outcome
from tinyfleet.server.rollout.machine import Status, Trigger
from tinyfleet.server.rollout.model import (
    DeviceView,
    ErrorThreshold,
    GateAction,
    GateKind,
    HealthBound,
    HealthGate,
    RolloutSpec,
    Stage,
    Target,
)

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BOARDS = ["qemu-an386", "rpi4", "esp32dev", "nano33ble", "mystery"]
COMPATIBLE_BOARDS = {
    "qemu-an386",
    "rpi4",
}  # PKG.boards; esp32dev/nano33ble are not listed, mystery is unknown


def compatible(v: DeviceView) -> bool:
    """Independent oracle: the package's boards, and the budgets the device reported."""
    return (
        v.board in COMPATIBLE_BOARDS
        and (v.arena_budget is None or v.arena_budget >= PKG.arena_bytes)
        and (v.flash_budget is None or v.flash_budget >= PKG.flash_bytes)
    )


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    n = draw(st.integers(0, 24))
    devices = {}
    for i in range(n):
        d = f"d{i:03d}"
        devices[d] = DeviceView(
            d,
            draw(st.sampled_from(BOARDS)),
            draw(st.sampled_from([OLD, OLD, OLD, NEW, None])),
            arena_budget=draw(st.sampled_from([None, None, 1024, 1 << 20])),
            flash_budget=draw(st.sampled_from([None, None, 4096])),
        )
    behaviour = {d: draw(st.sampled_from(["confirm", "confirm", "fail", "pending"])) for d in devices}
    fleet = Fleet(
        devices, behaviour=lambda d: behaviour[d], target=[d for d in devices if draw(st.integers(0, 9)) > 0]
    )
    for d in devices:
        if draw(st.integers(0, 9)) == 0:
            fleet.holder[d] = "other"
    return fleet


@st.composite
def specs(draw: st.DrawFn, ids: list[str]) -> RolloutSpec:
    k = draw(st.integers(1, 4))
    stages = []
    last_count, last_pct = 1, 0.0
    for i in range(k):
        kind = draw(st.sampled_from(["named", "count", "percent"]))
        common = dict(
            success_share=draw(st.sampled_from([0.0, 0.5, 0.8, 1.0])),
            error=draw(
                st.sampled_from(
                    [
                        ErrorThreshold(),
                        ErrorThreshold(max_failed=0, max_failed_share=None),
                        ErrorThreshold(max_failed=2, max_failed_share=0.5),
                    ]
                )
            ),
            soak_s=draw(st.sampled_from([0.0, 0.0, 2.0])),
            manual_approval=draw(st.booleans()) and draw(st.booleans()),
        )
        if kind == "named":
            pool = ids + ["zz-absent"]
            names = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))
            stages.append(Stage(f"s{i}", devices=tuple(names), **common))  # type: ignore[arg-type]
        elif kind == "count":
            last_count = draw(st.integers(last_count, last_count + 10))
            stages.append(Stage(f"s{i}", count=last_count, **common))  # type: ignore[arg-type]
        else:
            last_pct = draw(
                st.sampled_from([p for p in (5.0, 10.0, 12.5, 33.3, 50.0, 100.0) if p >= last_pct])
            )
            stages.append(Stage(f"s{i}", percent=last_pct, **common))  # type: ignore[arg-type]
    return RolloutSpec(PKG, Target(group="all"), tuple(stages)).validate()


ACTIONS = st.lists(
    st.one_of(
        st.just("tick"),
        st.just("tick"),
        st.just("tick"),
        st.sampled_from(["pause", "resume", "promote", "abort"]),
    ),
    max_size=25,
)


def check_invariants(run: Run, start_views: dict[str, DeviceView], start_holder: dict[str, str]) -> None:
    state = run.state
    n = len(run.fleet.target)
    # a stage never exceeds its share (cumulative for count/percent, the named list for named stages)
    for k, stage in enumerate(state.spec.stages[: state.stage + 1]):
        before = [d for d, r in state.devices.items() if r.stage < k]
        mine = [d for d, r in state.devices.items() if r.stage == k]
        if stage.percent is not None:
            cap = math.floor(Fraction(n) * Fraction(repr(stage.percent)) / 100)
        elif stage.count is not None:
            cap = stage.count
        else:
            assert set(mine) <= set(stage.devices)
            continue
        # earlier stages may already hold more (a canary list); then this stage adds nobody
        assert len(before) + len(mine) <= max(cap, len(before))
        assert not mine or len(before) + len(mine) <= cap
    # an incompatible device is never assigned; nor one held by another rollout, nor one twice
    assigned = [a.device_id for dec in run.decisions for a in dec.assign]
    assert len(assigned) == len(set(assigned))
    for d in assigned:
        assert compatible(start_views[d]), (d, start_views[d])
        assert start_holder.get(d) is None
        assert d in run.fleet.target
        assert not NEW.same_model(start_views[d].current)
    # incompatible target devices the planner looked at are reported
    for d, reasons in state.skipped.items():
        assert reasons and d not in state.devices
    # the log rebuilds the state
    assert replay(run.events) == state


def check_json(run: Run) -> None:
    """The log and the state survive JSON (the scheduler stores them in JSON columns)."""
    assert replay(Event.from_json(json.loads(json.dumps(e.to_json()))) for e in run.events) == run.state
    assert RolloutState.from_json(json.loads(json.dumps(run.state.to_json()))) == run.state


def drive(data: st.DataObject) -> tuple[Run, dict[str, DeviceView], dict[str, str]]:
    """A random rollout on a random fleet after random ticks and commands, invariants checked throughout."""
    fleet = data.draw(fleets())
    spec = data.draw(specs(sorted(fleet.devices)))
    start_views, start_holder = dict(fleet.devices), dict(fleet.holder)
    run = Run.start(fleet, spec)
    for a in data.draw(ACTIONS):
        if a == "tick":
            run.tick()
        else:
            try:
                run.cmd(Command(a))
            except UsageError:
                assert run.state.status in set(Status)
        check_invariants(run, start_views, start_holder)
    return run, start_views, start_holder


@SETTINGS
@given(data=st.data())
def test_random_rollouts_keep_their_invariants(data: st.DataObject) -> None:
    run, start_views, start_holder = drive(data)
    # run it out: ticks, with operator promotes when something waits for them
    for _ in range(40):
        if run.state.terminal:
            break
        if run.state.status in (Status.WAITING_APPROVAL, Status.HELD):
            run.cmd(Command.PROMOTE)
        elif run.state.status is Status.PAUSED:
            run.cmd(Command.RESUME)
        run.tick(3.0)
        check_invariants(run, start_views, start_holder)
    check_json(run)
    event(f"ended {run.state.status.value}; skipped {'some' if run.state.skipped else 'none'}")


@SETTINGS
@given(data=st.data())
def test_abort_returns_every_touched_device_to_its_previous_version(data: st.DataObject) -> None:
    run, start_views, start_holder = drive(data)
    fleet = run.fleet
    if run.state.status in (
        set(Status) - {Status.ABORTING, Status.SUCCEEDED, Status.ABORTED, Status.ROLLED_BACK}
    ):
        run.cmd(Command.ABORT)
    run.ticks(2)
    check_invariants(run, start_views, start_holder)
    event(f"ended {run.state.status.value}, touched {'some' if run.state.devices else 'none'}")
    if run.state.status is Status.SUCCEEDED:
        return
    assert run.state.status in (Status.ROLLED_BACK, Status.ABORTED)
    for d, rec in run.state.devices.items():
        assert rec.previous == start_views[d].current
        if rec.previous is None:  # nothing to return to: reported as such, not as restored
            assert rec.status is DeviceStatus.NO_PREVIOUS
        else:
            assert rec.status is DeviceStatus.RESTORED
            assert fleet.devices[d].current == start_views[d].current
    assert not {d for d, r in fleet.holder.items() if r == "r1"}


@SETTINGS
@given(data=st.data())
def test_two_rollouts_never_hold_the_same_device(data: st.DataObject) -> None:
    fleet = data.draw(fleets())
    fleet.holder.clear()
    ids = sorted(fleet.devices)
    start_views = dict(fleet.devices)
    a = Run.start(fleet, data.draw(specs(ids)), "ra")
    other = replace(data.draw(specs(ids)), package=replace(PKG, version="1.2.0", sha256="c" * 64))
    b = Run.start(fleet, other, "rb")
    for _ in range(data.draw(st.integers(1, 12))):
        for run in data.draw(st.permutations([a, b])):
            run.tick()
            if run.state.status in (Status.WAITING_APPROVAL, Status.HELD):
                run.cmd(Command.PROMOTE)
        active_a = {d for d in a.state.devices} if not a.state.terminal else set()
        active_b = {d for d in b.state.devices} if not b.state.terminal else set()
        assert not (active_a & active_b)
    for run in (a, b):
        for dec in run.decisions:
            for asg in dec.assign:
                assert compatible(start_views[asg.device_id])


@settings(max_examples=60, deadline=None)
@given(
    gate=st.sampled_from(
        [GateKind.ERROR_RATE, GateKind.LATENCY_P95, GateKind.CONFIDENCE_DROP, GateKind.DRIFT]
    ),
    action=st.sampled_from(list(GateAction)),
    err=st.integers(0, 300),
    lat=st.integers(500, 3000),
    conf_bin=st.integers(8, 15),
    cls0=st.integers(0, 1000),
    bound_step=st.integers(0, 20),
)
def test_canary_health_gate_decides_on_the_bound_against_control(
    gate: GateKind, action: GateAction, err: int, lat: int, conf_bin: int, cls0: int, bound_step: int
) -> None:
    control = Window(
        OLD.version,
        n=1000,
        err=20,
        lat_p95_us=1000.0,
        cls=(500, 500),
        conf=(0,) * 14 + (1000, 0),
        reports=5,
        first_ts=0.0,
        last_ts=1.0,
    )
    canary = Window(
        NEW.version,
        n=1000,
        err=err,
        lat_p95_us=float(lat),
        cls=(cls0, 1000 - cls0),
        conf=(0,) * conf_bin + (1000,) + (0,) * (15 - conf_bin),
        reports=5,
        first_ts=0.0,
        last_ts=1.0,
    )
    base = Baseline(1000, ((1,) * 16,), (500, 500), (1,) * 16)
    # the documented value of each gate, computed here independently of the engine
    value = {
        GateKind.ERROR_RATE: err / 1000 - 0.02,
        GateKind.LATENCY_P95: lat / 1000.0,
        GateKind.CONFIDENCE_DROP: (14.5 - (conf_bin + 0.5)) / 16,
        GateKind.DRIFT: tinyfleet_drift.psi([500, 500], [cls0, 1000 - cls0]),
    }[gate]
    bound = {
        GateKind.ERROR_RATE: 0.015 * bound_step,
        GateKind.LATENCY_P95: 1.0 + 0.1 * bound_step,
        GateKind.CONFIDENCE_DROP: 0.02 * bound_step,
        GateKind.DRIFT: 0.05 * bound_step,
    }[gate]
    fleet = Fleet.make(10)
    fleet.baselines = {OLD.key: base, NEW.key: base}
    fleet.telemetry = {d: control for d in fleet.devices}
    s = RolloutSpec(
        PKG,
        Target(group="all"),
        (Stage("canary", count=2), Stage("all", percent=100)),
        HealthGate(bounds=(HealthBound(gate, bound, action),), min_samples=1000),
    ).validate()
    run = Run.start(fleet, s)
    run.tick()
    for d in run.state.devices:
        fleet.telemetry[d] = canary
    run.ticks(3)
    event(f"{'beyond' if value > bound else 'within'} the bound")
    # gates decide on evidence (gates.py): FAIL needs the effect beyond the bound *and* significant
    # (interval above 0 / e-value), PASS needs the interval's upper end within the bound, and
    # anything else waits (the stage holds); the drift value is an excess PSI, not the raw PSI
    decided = [e for e in run.events if e.trigger in (Trigger.HEALTH_HOLD, Trigger.HEALTH_ROLLBACK)]
    if decided:
        assert run.state.status is (Status.ROLLED_BACK if action is GateAction.ROLLBACK else Status.HELD)
        v = decided[0].verdicts[0]
        assert v.outcome is Outcome.FAIL and v.value is not None and v.value > bound
        if gate is not GateKind.DRIFT:
            assert v.value == pytest.approx(value)
            assert gate is GateKind.LATENCY_P95 or (v.lower is not None and v.lower > 0)
    elif run.state.status is Status.SUCCEEDED:
        assert value <= bound + 1e-9 or gate is GateKind.DRIFT
    else:
        assert run.state.status is Status.SOAKING  # inconclusive: held until the evidence suffices
        assert gate is not GateKind.LATENCY_P95
