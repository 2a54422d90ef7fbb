from __future__ import annotations

from dataclasses import replace

import pytest
from rollout_kit import NEW, Fleet, spec

from tinyfleet.server.rollout.events import RolloutState, create
from tinyfleet.server.rollout.machine import Status
from tinyfleet.server.rollout.model import Stage
from tinyfleet.server.rollout.planner import plan, stage_cap


def started(s, rollout_id: str = "r1") -> RolloutState:  # type: ignore[no-untyped-def]
    state, _ = create(rollout_id, s, 0.0)
    return replace(state, status=Status.RUNNING, stage=0)


@pytest.mark.parametrize(
    "n,percent,cap",
    [(100, 29.0, 29), (10, 10.0, 1), (9, 10.0, 0), (7, 100.0, 7), (3, 33.3, 0), (1000, 12.5, 125)],
)
def test_percent_caps_round_down_exactly(n: int, percent: float, cap: int) -> None:
    assert stage_cap(Stage("s", percent=percent), n, set()) == cap


def test_named_cap_counts_devices_already_touched_once() -> None:
    assert stage_cap(Stage("s", devices=("a", "b")), 10, {"a", "c"}) == 3


def test_selection_is_deterministic_and_independent_of_order() -> None:
    fleet = Fleet.make(50)
    s = spec(Stage("ten", percent=10))
    one = plan(started(s), fleet.snapshot("r1"))
    fleet.target.reverse()
    two = plan(started(s), fleet.snapshot("r1"))
    assert one == two and len(one.assign) == 5
    other = plan(started(s, "r2"), fleet.snapshot("r2"))
    assert {d for d, _ in other.assign} != {d for d, _ in one.assign}


def test_named_devices_outside_the_target_unknown_or_current_are_skipped() -> None:
    fleet = Fleet.make(5)
    fleet.target.remove("d004")
    fleet.devices["d003"] = replace(fleet.devices["d003"], current=NEW)
    s = spec(Stage("canary", devices=("d004", "d003", "d002", "d001")))
    p = plan(started(s), fleet.snapshot("r1"))
    assert [d for d, _ in p.assign] == ["d002", "d001"]
    assert p.skipped["d004"] == ("not in the rollout's target",)
    assert p.skipped["d003"][0].startswith("already runs digits@1.1.0")


def test_incompatible_devices_are_skipped_and_the_next_ones_fill_the_share() -> None:
    fleet = Fleet.make(20, board=lambda i: "esp32dev" if i % 2 else "qemu-an386")
    p = plan(started(spec(Stage("half", percent=50))), fleet.snapshot("r1"))
    assert len(p.assign) == 10 and all(int(d[1:]) % 2 == 0 for d, _ in p.assign)
    assert p.skipped and all(int(d[1:]) % 2 == 1 for d in p.skipped)


def test_empty_target_plans_nothing() -> None:
    fleet = Fleet.make(0)
    assert plan(started(spec(Stage("all", percent=100))), fleet.snapshot("r1")).assign == ()
