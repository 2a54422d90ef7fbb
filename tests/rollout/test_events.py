from __future__ import annotations

from dataclasses import replace

import pytest
from rollout_kit import Fleet, Run, spec

from tinyfleet.errors import UsageError
from tinyfleet.server.rollout.events import Event, EventKind, apply, create, replay
from tinyfleet.server.rollout.machine import Status, Trigger
from tinyfleet.server.rollout.model import Stage


def log() -> list[Event]:
    run = Run.start(Fleet.make(6), spec(Stage("a", count=2), Stage("b", percent=100)))
    run.ticks(4)
    assert run.state.status is Status.SUCCEEDED
    return run.events


def test_replay_rebuilds_every_intermediate_state() -> None:
    events = log()
    state = None
    for i, ev in enumerate(events, start=1):
        state = apply(state, ev)
        assert replay(events[:i]) == state
    assert state is not None and state.seq == len(events)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda ev: ev[1:], "does not start with a created event"),
        (lambda ev: [ev[0], ev[0]], "exactly one created event"),
        (lambda ev: ev[:2] + ev[3:], "expected sequence number"),
        (
            lambda ev: ev[:1] + [replace(ev[1], trigger=Trigger.ALL_RESTORED)],
            "no transition created --all_restored-->",
        ),
        (lambda ev: ev[:1] + [replace(ev[1], target=Status.SUCCEEDED)], "the table sends"),
        (lambda ev: [], "empty rollout event log"),
    ],
)
def test_a_corrupted_log_does_not_replay(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=message):
        replay(mutate(log()))


def test_events_after_the_end_and_unknown_devices_are_refused() -> None:
    events = log()
    state = replay(events)
    with pytest.raises(UsageError, match="the rollout is succeeded"):
        apply(state, Event(state.seq + 1, 9.0, EventKind.REPORTED, devices=("d000",)))
    early = replay(events[:3])
    with pytest.raises(UsageError, match="not assigned by this rollout"):
        apply(early, Event(early.seq + 1, 9.0, EventKind.RESTORED, devices=("nobody",)))
    assigned = next(e for e in events if e.kind is EventKind.ASSIGNED)
    after = replay(events[: assigned.seq])
    with pytest.raises(UsageError, match="assigned twice"):
        apply(after, replace(assigned, seq=after.seq + 1))


def test_create_validates_the_spec_and_the_id() -> None:
    s = spec(Stage("a", percent=100))
    with pytest.raises(UsageError, match="rollout id"):
        create("", s, 0.0)
    bad = replace(s, stages=(replace(s.stages[0], soak_s=-1.0),))
    with pytest.raises(UsageError, match="soak_s"):
        create("r", bad, 0.0)


def test_event_json_refuses_wrong_types() -> None:
    data = log()[1].to_json()
    assert Event.from_json(data) == log()[1]
    with pytest.raises(UsageError, match=r"event\.seq: must be an integer"):
        Event.from_json({**data, "seq": "2"})
    with pytest.raises(UsageError, match=r"event\.kind: must be one of"):
        Event.from_json({**data, "kind": "exploded"})
