"""``engine.fault``: a failed step is recorded once per distinct message; the next step recovers."""

from __future__ import annotations

from rollout_kit import Fleet, Run, spec

from tinyfleet.server.rollout.engine import MAX_FAULT_CHARS, Command, fault, summary
from tinyfleet.server.rollout.events import EventKind
from tinyfleet.server.rollout.machine import Status
from tinyfleet.server.rollout.model import Stage


def _take(run: Run, msg: str) -> int:
    dec = fault(run.state, run.now, msg)
    run.state, run.events = dec.state, run.events + list(dec.events)
    return len(dec.events)


def test_fault_recorded_once_then_recovered_by_the_next_step() -> None:
    run = Run.start(Fleet.make(4), spec(Stage("all", percent=100)))
    assert _take(run, "no group named 'a'") == 1
    assert _take(run, "no group named 'a'") == 0  # the same fault again: nothing new
    assert _take(run, "no group\n named  'a'") == 0  # one line, spaces collapsed: the same message
    assert summary(run.state)["error"] == "no group named 'a'" and run.state.status is Status.CREATED
    assert _take(run, "another failure") == 1
    dec = run.tick()
    assert dec.events[0].kind is EventKind.RECOVERED and run.state.error == ""
    assert run.state.status is Status.SUCCEEDED or run.state.status is Status.RUNNING
    assert run.replayed() == run.state


def test_fault_message_is_bounded_and_never_empty() -> None:
    run = Run.start(Fleet.make(1), spec(Stage("all", percent=100)))
    _take(run, "x" * 10_000)
    assert len(run.state.error) == MAX_FAULT_CHARS
    _take(run, "   ")
    assert run.state.error == "step failed"


def test_no_fault_on_a_finished_rollout() -> None:
    run = Run.start(Fleet.make(1), spec(Stage("all", percent=100)))
    run.cmd(Command.ABORT)
    assert run.state.terminal and _take(run, "late") == 0
