"""The dashboard's pure view functions (no server, no browser): stages, actions, audit rows, drift."""

from __future__ import annotations

from types import SimpleNamespace

from tinyfleet.server.dashboard.rollout_view import allowed_actions, stages_view
from tinyfleet.server.dashboard.views import Report, audit_entry, drift_view
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.cohort import Signal
from tinyfleet.server.rollout.engine import Command, command
from tinyfleet.server.rollout.events import apply, create
from tinyfleet.server.rollout.model import PackageInfo, RolloutSpec, Stage, Target

PKG = PackageInfo("digits", "1.1.0", "a" * 64, ("rpi4",), ("FULLY_CONNECTED",), 4096, 50_000)


def _state(*stages: Stage):  # type: ignore[no-untyped-def]
    spec = RolloutSpec(PKG, Target(group="all"), tuple(stages)).validate()
    state, _ = create("7", spec, 100.0)
    return state


def test_stage_sizes_follow_the_planner_caps() -> None:
    state = _state(
        Stage("canary", devices=("d1", "d2")), Stage("ten", percent=10.0), Stage("all", percent=100.0)
    )
    view = stages_view(state, target_size=50)
    # canary: 2 named; 10 % of 50 = 5 in all, so 3 more; 100 % = 50, so 45 more
    assert [s["target"] for s in view] == [2, 3, 45]
    assert [s["share"] for s in view] == ["2 named", "10 %", "100 %"]
    assert all(s["phase"] == "waiting" and s["assigned"] == 0 for s in view)


def test_allowed_actions_are_what_the_engine_accepts() -> None:
    state = _state(Stage("all", percent=100.0, soak_s=60.0))
    assert allowed_actions(state, 101.0) == ["abort"]  # created: nothing to pause or promote yet
    aborted = state
    for ev in command(state, Command.ABORT, 101.0).events:
        aborted = apply(aborted, ev)
    assert allowed_actions(aborted, 102.0) == []  # aborted before anything was assigned: terminal


def test_audit_entry_names_the_actor_and_shortens_the_spec() -> None:
    state = _state(Stage("all", percent=100.0))
    spec = state.spec.to_json()
    created = SimpleNamespace(
        id=1,
        rollout_id=7,
        seq=1,
        ts=100.0,
        kind="created",
        data={
            "kind": "created",
            "seq": 1,
            "at": 100.0,
            "rollout_id": "7",
            "spec": spec,
            "devices": [],
            "reason": "",
        },
    )
    row = audit_entry(created, "r7", "alice")
    assert row["actor"] == "alice" and row["rollout"] == "r7"
    assert row["data"] == {"package": "digits@1.1.0", "target": {"group": "all"}, "stages": ["all"]}
    assigned = SimpleNamespace(
        id=2,
        rollout_id=7,
        seq=2,
        ts=101.0,
        kind="assigned",
        data={
            "kind": "assigned",
            "devices": [f"d{i}" for i in range(20)],
            "stage": 0,
            "previous": [None] * 20,
            "by": "",
        },
    )
    row = audit_entry(assigned, "r7", "alice")
    assert row["actor"] == "scheduler"
    assert row["data"] == {"devices": "20 devices", "stage": 0}
    paused = SimpleNamespace(
        id=3,
        rollout_id=7,
        seq=3,
        ts=102.0,
        kind="transition",
        data={"trigger": "pause", "by": "bob", "verdicts": [{"gate": "drift", "outcome": "pass"}]},
    )
    row = audit_entry(paused, "r7", "alice")
    assert row["actor"] == "bob" and row["data"] == {"trigger": "pause", "gates": "drift=pass"}


def _report(device: str, ts: float, cls: list[int]) -> Report:
    return Report(
        device, ts, "1.0.0", sum(cls), 0, 1000.0, [[sum(cls) // 16] * 16], cls, [0] * 15 + [sum(cls)]
    )


def test_drift_view_scores_each_bucket_and_sums_the_window() -> None:
    base = Baseline(
        n=100, input_hist=((6,) * 15 + (10,),), cls=(30, 30, 40), conf=(0,) * 12 + (10, 20, 30, 40)
    )
    reports = [
        _report("a", 10.0, [30, 30, 40]),
        _report("b", 12.0, [30, 30, 40]),  # like the baseline
        _report("a", 95.0, [90, 5, 5]),
    ]  # drifted, in the last bucket
    view = drift_view(base, reports, "1.0.0", 0.0, 100.0, 4, "psi", Signal.OUTPUT)
    assert [t for t, _ in view["series"]] == [25.0, 100.0]  # empty buckets leave gaps, not zeros
    first, last = (s for _, s in view["series"])
    assert first < 0.01 < 0.25 < last
    assert view["live"]["n"] == 300 and view["live"]["cls"] == [150, 65, 85]
    assert view["baseline"]["cls"] == [30, 30, 40]
