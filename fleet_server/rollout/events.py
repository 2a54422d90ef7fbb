"""The append-only event log of a rollout and the state it folds into.

Every decision is an :class:`Event` (numbered from 1, with the time the scheduler passed in);
``apply(state, event)`` is the only way a :class:`RolloutState` changes, and
``replay(events)`` rebuilds the same state from the log (the scheduler stores events, not states).
``apply`` refuses an event that does not follow the log (wrong sequence number, a transition that
is not a row of ``machine.TRANSITIONS``), so a corrupted log fails loudly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tinyfleet.errors import UsageError
from tinyfleet.server.rollout.codec import from_json, to_json
from tinyfleet.server.rollout.gates import Verdict
from tinyfleet.server.rollout.machine import TERMINAL, Status, Trigger, lookup
from tinyfleet.server.rollout.model import RolloutSpec, VersionRef

__all__ = [
    "DONE",
    "DeviceRecord",
    "DeviceStatus",
    "Event",
    "EventKind",
    "RolloutState",
    "apply",
    "create",
    "replay",
]


class EventKind(StrEnum):
    CREATED = "created"  # rollout_id, spec
    TRANSITION = "transition"  # trigger, source, target, stage (after), verdicts, reason, by
    ASSIGNED = "assigned"  # stage, devices, previous (parallel to devices)
    SKIPPED = "skipped"  # stage, skipped: device → reasons (incompatible, already on target, not in target)
    REPORTED = "reported"  # devices (confirmed now), failed (failed now)
    ROLLBACK_ISSUED = "rollback_issued"  # devices, previous (parallel)
    RESTORED = "restored"  # devices back on their previous version
    ROLLBACK_REFUSED = "rollback_refused"  # devices that refused their previous version (anti-rollback)
    RETRIED = "retried"  # devices sent the package again after a failure (retry policy)
    FAULT = "fault"  # reason: a step of this rollout failed (e.g. its group was deleted); others go on
    RECOVERED = "recovered"  # a step succeeded again after a fault


class DeviceStatus(StrEnum):
    ASSIGNED = "assigned"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    ROLLBACK_ISSUED = "rollback_issued"
    RESTORED = "restored"
    NO_PREVIOUS = "no_previous"  # had no model before: nothing to return to (see docs/rollouts.md)
    ROLLBACK_REFUSED = "rollback_refused"  # refused its previous version: its security counter is higher


# final statuses of a device in an abort: the rollout waits for nothing more from it
DONE = frozenset({DeviceStatus.RESTORED, DeviceStatus.NO_PREVIOUS, DeviceStatus.ROLLBACK_REFUSED})


@dataclass(frozen=True)
class Event:
    seq: int
    at: float
    kind: EventKind
    rollout_id: str = ""
    spec: RolloutSpec | None = None
    trigger: Trigger | None = None
    source: Status | None = None
    target: Status | None = None
    stage: int | None = None
    devices: tuple[str, ...] = ()
    previous: tuple[VersionRef | None, ...] = ()
    failed: tuple[str, ...] = ()
    skipped: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    verdicts: tuple[Verdict, ...] = ()
    reason: str = ""
    by: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))

    @staticmethod
    def from_json(data: Any) -> Event:
        return from_json(Event, data, "event")


@dataclass(frozen=True)
class DeviceRecord:
    stage: int  # index of the stage that assigned the device
    previous: VersionRef | None  # what it ran before (None: no model)
    status: DeviceStatus
    retries: int = 0  # times it was sent the package again after a failure
    failed_at: float | None = None  # when its latest failure was recorded


@dataclass(frozen=True)
class RolloutState:
    rollout_id: str
    spec: RolloutSpec
    status: Status = Status.CREATED
    stage: int = -1  # index of the current stage (-1 before the start)
    stage_started_at: float | None = None
    soak_since: float | None = None
    devices: Mapping[str, DeviceRecord] = field(default_factory=dict)  # every touched device
    skipped: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    reason: str = ""  # why it was held or aborted
    waived_stage: int = -1  # stage an operator started by promoting over a health hold
    error: str = ""  # why the last step failed (a fault event); "" once a step succeeds again
    sends: tuple[tuple[float, int], ...] = ()  # (time, devices sent the package) over the last minute
    # devices per "stage:status" (and "stage:failed_final": failed, retries used up), kept by apply so
    # counting costs nothing per tick; always equal to counting ``devices``
    tally: Mapping[str, int] = field(default_factory=dict)
    seq: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def stage_devices(self, stage: int | None = None) -> list[str]:
        k = self.stage if stage is None else stage
        return [d for d, r in self.devices.items() if r.stage == k]

    def count(self, status: DeviceStatus, stage: int | None = None) -> int:
        if stage is not None:
            return self.tally.get(f"{stage}:{status.value}", 0)
        return sum(self.tally.get(f"{k}:{status.value}", 0) for k in range(len(self.spec.stages)))

    def failed_final(self, stage: int) -> int:
        """Failed devices of ``stage`` with no retry left (what the error gates count)."""
        return self.tally.get(f"{stage}:failed_final", 0)

    def assigned(self, stage: int) -> int:
        """Devices ``stage`` assigned (any status)."""
        return self.tally.get(f"{stage}:all", 0)

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))

    @staticmethod
    def from_json(data: Any) -> RolloutState:
        return from_json(RolloutState, data, "rollout state")


def create(rollout_id: str, spec: RolloutSpec, now: float) -> tuple[RolloutState, Event]:
    """The first event of a rollout (the spec is validated here) and the state it makes."""
    if not rollout_id or len(rollout_id) > 64:
        raise UsageError("rollout id must be 1-64 characters")
    spec.validate()
    ev = Event(seq=1, at=now, kind=EventKind.CREATED, rollout_id=rollout_id, spec=spec)
    return RolloutState(rollout_id, spec, seq=1, created_at=now, updated_at=now), ev


def _bad(ev: Event, msg: str) -> UsageError:
    return UsageError(f"rollout event {ev.seq} ({ev.kind.value}): {msg}")


def apply(state: RolloutState | None, ev: Event) -> RolloutState:
    """The state after ``ev``. ``state`` is None only for the CREATED event."""
    if ev.kind is EventKind.CREATED:
        if state is not None or ev.seq != 1 or ev.spec is None:
            raise _bad(ev, "a log starts with exactly one created event")
        return RolloutState(ev.rollout_id, ev.spec, seq=1, created_at=ev.at, updated_at=ev.at)
    if state is None:
        raise _bad(ev, "the log does not start with a created event")
    if ev.seq != state.seq + 1:
        raise _bad(ev, f"expected sequence number {state.seq + 1}")
    s = replace(state, seq=ev.seq, updated_at=ev.at)
    if ev.kind is EventKind.TRANSITION:
        return _transition(s, ev)
    if s.terminal:
        raise _bad(ev, f"the rollout is {s.status.value}")
    devices = dict(s.devices)
    if ev.kind is EventKind.ASSIGNED:
        if ev.stage != s.stage or len(ev.previous) != len(ev.devices):
            raise _bad(ev, "assignment does not match the current stage")
        for d, prev in zip(ev.devices, ev.previous, strict=True):
            if d in devices:
                raise _bad(ev, f"device {d} is assigned twice")
            devices[d] = DeviceRecord(s.stage, prev, DeviceStatus.ASSIGNED)
        tally = _retally(s, s.devices, devices, ev.devices)
        return replace(s, devices=devices, sends=_sent(s, ev), tally=tally)
    if ev.kind is EventKind.RETRIED:
        for d in ev.devices:
            rec = devices.get(d)
            if rec is None or rec.status is not DeviceStatus.FAILED:
                raise _bad(ev, f"device {d} is retried but has not failed")
            devices[d] = replace(rec, status=DeviceStatus.ASSIGNED, retries=rec.retries + 1, failed_at=None)
        tally = _retally(s, s.devices, devices, ev.devices)
        return replace(s, devices=devices, sends=_sent(s, ev), tally=tally)
    if ev.kind is EventKind.SKIPPED:
        return replace(s, skipped={**s.skipped, **ev.skipped})
    if ev.kind is EventKind.FAULT:
        if not ev.reason:
            raise _bad(ev, "a fault needs a reason")
        return replace(s, error=ev.reason)
    if ev.kind is EventKind.RECOVERED:
        return replace(s, error="")
    marks = {
        EventKind.REPORTED: ((ev.devices, DeviceStatus.CONFIRMED), (ev.failed, DeviceStatus.FAILED)),
        EventKind.ROLLBACK_ISSUED: ((ev.devices, DeviceStatus.ROLLBACK_ISSUED),),
        EventKind.RESTORED: ((ev.devices, DeviceStatus.RESTORED),),
        EventKind.ROLLBACK_REFUSED: ((ev.devices, DeviceStatus.ROLLBACK_REFUSED),),
    }.get(ev.kind)
    if marks is not None:
        for ids, status in marks:
            for d in ids:
                if d not in devices:
                    raise _bad(ev, f"device {d} was not assigned by this rollout")
                rec = devices[d]
                if status is DeviceStatus.ROLLBACK_REFUSED and rec.status is not DeviceStatus.ROLLBACK_ISSUED:
                    raise _bad(ev, f"device {d} refused a rollback it was not sent")
                if status is DeviceStatus.ROLLBACK_ISSUED and rec.previous is None:
                    status_d = DeviceStatus.NO_PREVIOUS
                else:
                    status_d = status
                failed_at = ev.at if status_d is DeviceStatus.FAILED else rec.failed_at
                devices[d] = DeviceRecord(rec.stage, rec.previous, status_d, rec.retries, failed_at)
        moved = list(dict.fromkeys(d for group, _ in marks for d in group))
        return replace(s, devices=devices, tally=_retally(s, s.devices, devices, moved))
    raise _bad(ev, "unknown event kind")


SEND_WINDOW_S = 60.0  # the bandwidth cap counts the sends of the last minute


def _tally_keys(rec: DeviceRecord, max_retries: int) -> tuple[str, ...]:
    keys = [f"{rec.stage}:all", f"{rec.stage}:{rec.status.value}"]
    if rec.status is DeviceStatus.FAILED and rec.retries >= max_retries:
        keys.append(f"{rec.stage}:failed_final")
    return tuple(keys)


def _retally(
    s: RolloutState, old: Mapping[str, DeviceRecord], new: Mapping[str, DeviceRecord], ids: Iterable[str]
) -> dict[str, int]:
    """``s.tally`` after the devices ``ids`` went from ``old`` to ``new`` records."""
    tally = dict(s.tally)
    m = s.spec.retry.max_retries
    for d in ids:
        before = old.get(d)
        if before is not None:
            for k in _tally_keys(before, m):
                tally[k] -= 1
        for k in _tally_keys(new[d], m):
            tally[k] = tally.get(k, 0) + 1
    return tally


def _sent(s: RolloutState, ev: Event) -> tuple[tuple[float, int], ...]:
    recent = tuple(x for x in s.sends if x[0] > ev.at - SEND_WINDOW_S)
    return (*recent, (ev.at, len(ev.devices))) if ev.devices else recent


def _transition(s: RolloutState, ev: Event) -> RolloutState:
    if ev.trigger is None:
        raise _bad(ev, "transition without a trigger")
    row = lookup(s.status, ev.trigger)
    if row is None:
        raise _bad(ev, f"no transition {s.status.value} --{ev.trigger.value}-->")
    if ev.target is not None and ev.target is not row.target:
        raise _bad(ev, f"the table sends {s.status.value} --{ev.trigger.value}--> {row.target.value}")
    stage = s.stage + 1 if row.advance else s.stage
    if stage >= len(s.spec.stages):
        raise _bad(ev, "there is no next stage")
    starts = row.advance or (row.source is Status.WAITING_APPROVAL and row.target is Status.RUNNING)
    soak = s.soak_since
    if row.advance or ev.trigger is Trigger.SUCCESS_LOST:
        soak = None
    elif ev.trigger is Trigger.SUCCESS_MET and soak is None:
        soak = ev.at
    reason = (
        ev.reason if ev.reason else (s.reason if row.target in (Status.ABORTING, Status.ROLLED_BACK) else "")
    )
    waived = stage if row.source is Status.HELD and row.advance else s.waived_stage
    return replace(
        s,
        status=row.target,
        waived_stage=waived,
        stage=stage,
        stage_started_at=ev.at if starts and row.target is Status.RUNNING else s.stage_started_at,
        soak_since=soak,
        reason=reason,
    )


def replay(events: Iterable[Event]) -> RolloutState:
    """Fold a whole log; raises UsageError when it is empty or inconsistent."""
    state: RolloutState | None = None
    for ev in events:
        state = apply(state, ev)
    if state is None:
        raise UsageError("empty rollout event log")
    return state
