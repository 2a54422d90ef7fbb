from __future__ import annotations

from tinyfleet.server.rollout.machine import (
    ACTIVE,
    STATUS_MEANING,
    TERMINAL,
    TRANSITIONS,
    Status,
    Trigger,
    lookup,
)


def test_every_state_has_a_meaning_and_is_reachable() -> None:
    assert set(STATUS_MEANING) == set(Status)
    reachable = {Status.CREATED}
    for _ in range(len(TRANSITIONS)):
        reachable |= {r.target for r in TRANSITIONS if r.source in reachable}
    assert reachable == set(Status)


def test_every_trigger_is_used_and_terminal_states_have_no_exit() -> None:
    assert {r.trigger for r in TRANSITIONS} == set(Trigger)
    assert not {r.source for r in TRANSITIONS} & TERMINAL
    assert set(Status) == ACTIVE | TERMINAL and not ACTIVE & TERMINAL


def test_every_active_state_can_be_aborted_and_every_abort_can_finish() -> None:
    for s in ACTIVE - {Status.ABORTING}:
        row = lookup(s, Trigger.ABORT)
        assert row is not None and row.target in (Status.ABORTING, Status.ABORTED), s
    assert lookup(Status.ABORTING, Trigger.ALL_RESTORED) is not None


def test_only_stage_moves_advance_the_stage_pointer() -> None:
    advancing = {(r.source, r.trigger) for r in TRANSITIONS if r.advance}
    assert all(
        t
        in (
            Trigger.START,
            Trigger.START_APPROVAL,
            Trigger.STAGE_PASSED,
            Trigger.STAGE_PASSED_APPROVAL,
            Trigger.PROMOTE,
            Trigger.PROMOTE_APPROVAL,
        )
        for _, t in advancing
    )
    assert lookup(Status.WAITING_APPROVAL, Trigger.PROMOTE).advance is False  # type: ignore[union-attr]
    assert lookup(Status.HELD, Trigger.RESUME) is not None and lookup(Status.PAUSED, Trigger.PROMOTE) is None
