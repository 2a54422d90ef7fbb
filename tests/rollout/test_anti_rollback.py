"""Abort with anti-rollback: a device that refuses its previous version because its security counter
is higher ends as ``rollback_refused`` (final), and the abort ends ``rolled_back_partially`` with the
list of such devices; any other rollback failure keeps the rollout waiting."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rollout_kit import NEW, OLD, Fleet, Run, spec

from tinyfleet.rollout_status import ACTIVE, TERMINAL, RolloutStatus
from tinyfleet.server.rollout.engine import Command, refuses_rollback, summary
from tinyfleet.server.rollout.events import DONE, DeviceStatus
from tinyfleet.server.rollout.machine import TRANSITIONS, Status
from tinyfleet.server.rollout.model import DeviceOutcome, DeviceView, Stage

OLD_COUNTER = 1
NEW_COUNTER = 2


def _confirmed_and_aborted(n: int = 3) -> Run:
    fleet = Fleet.make(n, counters={OLD.key: OLD_COUNTER, NEW.key: NEW_COUNTER})
    run = Run.start(fleet, spec(Stage("all", percent=100, soak_s=1000)))
    run.ticks(2)
    assert run.state.count(DeviceStatus.CONFIRMED) == n
    for d, v in fleet.devices.items():  # confirming raised each device's stored counter
        fleet.devices[d] = replace(v, security_counter=NEW_COUNTER)
    dec = run.cmd(Command.ABORT)
    assert len(dec.rollback) == n
    return run


def _refuse(run: Run, device: str, counter: int = NEW_COUNTER) -> None:
    """What a device does when it refuses the rollback: it reports a failure and keeps the new model."""
    v = run.fleet.devices[device]
    run.fleet.devices[device] = replace(
        v, current=NEW, outcome=DeviceOutcome.FAILED, security_counter=counter
    )


def test_refusals_end_the_abort_as_rolled_back_partially_with_the_list() -> None:
    run = _confirmed_and_aborted(3)
    _refuse(run, "d001")
    _refuse(run, "d002", counter=OLD_COUNTER)  # failed, but not for anti-rollback: still waited for
    run.tick()
    assert run.state.devices["d001"].status is DeviceStatus.ROLLBACK_REFUSED
    assert run.state.devices["d000"].status is DeviceStatus.RESTORED
    assert run.state.devices["d002"].status is DeviceStatus.ROLLBACK_ISSUED
    assert run.state.status is Status.ABORTING
    run.fleet.devices["d002"] = replace(run.fleet.devices["d002"], current=OLD, outcome=DeviceOutcome.NONE)
    dec = run.tick()
    assert run.state.status is Status.ROLLED_BACK_PARTIALLY and run.state.terminal
    assert summary(run.state)["rollback_refused"] == ["d001"]
    assert "1 device(s) refused the rollback (anti-rollback): d001" in run.state.reason
    assert "operator abort" in run.state.reason
    assert set(dec.release) == {"d000", "d001", "d002"}  # the rollout holds no device any more
    assert run.replayed() == run.state
    assert run.triggers()[-1] == "partly_restored"


def test_every_device_back_is_rolled_back_not_partially() -> None:
    run = _confirmed_and_aborted(3)
    run.tick()
    assert run.state.status is Status.ROLLED_BACK
    assert summary(run.state)["rollback_refused"] == []


def test_all_refusing_ends_partially() -> None:
    run = _confirmed_and_aborted(4)
    for d in list(run.fleet.devices):
        _refuse(run, d)
    run.tick()
    assert run.state.status is Status.ROLLED_BACK_PARTIALLY
    assert summary(run.state)["rollback_refused"] == ["d000", "d001", "d002", "d003"]
    assert summary(run.state)["devices"]["rollback_refused"] == 4


@pytest.mark.parametrize(
    ("device_counter", "outcome", "refused"),
    [
        (OLD_COUNTER + 1, DeviceOutcome.FAILED, True),  # just above the previous version's counter
        (OLD_COUNTER, DeviceOutcome.FAILED, False),  # equal: the device could run it; another failure
        (OLD_COUNTER - 1, DeviceOutcome.FAILED, False),
        (OLD_COUNTER + 1, DeviceOutcome.PENDING, False),  # not failed (yet)
        (OLD_COUNTER + 1, DeviceOutcome.CONFIRMED, False),
        (OLD_COUNTER + 1, DeviceOutcome.NONE, False),
    ],
)
def test_refusal_boundary(device_counter: int, outcome: DeviceOutcome, refused: bool) -> None:
    view = DeviceView("d", "rpi4", NEW, outcome=outcome, security_counter=device_counter)
    assert refuses_rollback(OLD, view, {OLD.key: OLD_COUNTER}) is refused


def test_unknown_previous_counter_or_no_previous_is_never_a_refusal() -> None:
    view = DeviceView("d", "rpi4", NEW, outcome=DeviceOutcome.FAILED, security_counter=99)
    assert not refuses_rollback(OLD, view, {})
    assert not refuses_rollback(None, view, {OLD.key: 0})


def test_status_contract_is_the_one_home_of_the_terminal_set() -> None:
    assert Status is RolloutStatus
    assert set(RolloutStatus) == TERMINAL | ACTIVE and not TERMINAL & ACTIVE
    sources = {r.source for r in TRANSITIONS}
    assert not sources & TERMINAL  # nothing leaves a terminal status
    assert all(s in sources for s in ACTIVE)  # every active status has a way out
    assert DeviceStatus.ROLLBACK_REFUSED in DONE
