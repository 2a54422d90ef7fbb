"""The engine's entry points: ``step`` (a scheduler tick) and ``command`` (an operator's act).

Both are pure: they take the current :class:`RolloutState` (``events.replay`` of the stored log),
the time as ``now`` and, for ``step``, a :class:`FleetSnapshot`; they return a :class:`Decision`:
new events to append, assignments to send, rollbacks to send and device locks to release. The
scheduler persists all of it in one transaction; ``Decision.state`` equals ``replay(old + new events)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tinyfleet.errors import UsageError
from tinyfleet.server.drift.cohort import CohortStats, cohort_stats
from tinyfleet.server.rollout import compat, planner
from tinyfleet.server.rollout.codec import to_json
from tinyfleet.server.rollout.events import (
    DONE,
    SEND_WINDOW_S,
    DeviceRecord,
    DeviceStatus,
    Event,
    EventKind,
    RolloutState,
    apply,
)
from tinyfleet.server.rollout.gates import (
    Outcome,
    StageStats,
    Verdict,
    error_verdicts,
    health_verdicts,
    success_share,
)
from tinyfleet.server.rollout.machine import Status, Trigger, lookup
from tinyfleet.server.rollout.model import DeviceOutcome, DeviceView, FleetSnapshot, GateAction, VersionRef

__all__ = [
    "Assignment",
    "Command",
    "Decision",
    "Rollback",
    "cohort_figures",
    "cohorts",
    "command",
    "due_retries",
    "fault",
    "health",
    "refused_devices",
    "refuses_rollback",
    "send_budget",
    "step",
    "summary",
]


class Command(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"
    ABORT = "abort"


@dataclass(frozen=True)
class Assignment:
    """Send ``version`` to ``device_id`` (its desired state) and hold the device for this rollout."""

    device_id: str
    version: VersionRef
    previous: VersionRef | None
    stage: int


@dataclass(frozen=True)
class Rollback:
    """Send ``version`` (the device's previous one; None: it had no model) as its desired state."""

    device_id: str
    version: VersionRef | None


@dataclass(frozen=True)
class Decision:
    state: RolloutState
    events: tuple[Event, ...] = ()
    assign: tuple[Assignment, ...] = ()
    rollback: tuple[Rollback, ...] = ()
    release: tuple[str, ...] = ()  # devices this rollout no longer holds (it finished)
    verdicts: tuple[Verdict, ...] = ()  # the gate verdicts of this tick (also when nothing changed)
    retry: tuple[Assignment, ...] = ()  # failed devices sent the package again (already held)

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))


class _Builder:
    def __init__(self, state: RolloutState, now: float) -> None:
        self.state = state
        self.now = now
        self.events: list[Event] = []
        self.assign: list[Assignment] = []
        self.rollback: list[Rollback] = []
        self.release: list[str] = []
        self.verdicts: list[Verdict] = []
        self.retry: list[Assignment] = []

    def emit(self, kind: EventKind, **fields: Any) -> None:
        ev = Event(seq=self.state.seq + 1, at=self.now, kind=kind, **fields)
        self.state = apply(self.state, ev)
        self.events.append(ev)

    def transition(
        self, trigger: Trigger, verdicts: list[Verdict] | None = None, reason: str = "", by: str = ""
    ) -> None:
        row = lookup(self.state.status, trigger)
        if row is None:
            raise UsageError(f"cannot {trigger.value} a rollout that is {self.state.status.value}")
        source = self.state.status
        if trigger is Trigger.LAST_STAGE_PASSED or trigger is Trigger.PROMOTE_LAST:
            self._return_failed()
        stage = self.state.stage + 1 if row.advance else self.state.stage
        self.emit(
            EventKind.TRANSITION,
            trigger=trigger,
            source=source,
            target=row.target,
            stage=stage,
            verdicts=tuple(verdicts or ()),
            reason=reason,
            by=by,
        )
        if row.target is Status.ABORTING:
            self._issue_rollbacks()
        if self.state.terminal:
            self.release.extend(sorted(self.state.devices))

    def _return_failed(self) -> None:
        failed = sorted(d for d, r in self.state.devices.items() if r.status is DeviceStatus.FAILED)
        if failed:
            prev = tuple(self.state.devices[d].previous for d in failed)
            self.emit(EventKind.ROLLBACK_ISSUED, devices=tuple(failed), previous=prev)
            self.rollback.extend(Rollback(d, p) for d, p in zip(failed, prev, strict=True))

    def _issue_rollbacks(self) -> None:
        ids = sorted(d for d, r in self.state.devices.items() if r.status not in DONE)
        if ids:
            prev = tuple(self.state.devices[d].previous for d in ids)
            self.emit(EventKind.ROLLBACK_ISSUED, devices=tuple(ids), previous=prev)
            self.rollback.extend(Rollback(d, p) for d, p in zip(ids, prev, strict=True))

    def decision(self) -> Decision:
        return Decision(
            self.state,
            tuple(self.events),
            tuple(self.assign),
            tuple(self.rollback),
            tuple(self.release),
            tuple(self.verdicts),
            tuple(self.retry),
        )


def _stage_stats(state: RolloutState) -> StageStats:
    """Counts of the current stage; a failed device that will be retried counts as neither
    confirmed nor failed until its retries are used up."""
    k = state.stage
    return StageStats(
        assigned=state.assigned(k),
        confirmed=state.count(DeviceStatus.CONFIRMED, k),
        failed=state.failed_final(k),
    )


def send_budget(state: RolloutState, now: float) -> int | None:
    """Devices that may be sent the package now: 0 outside the maintenance window, else what the
    bandwidth cap leaves of this minute (None: no limit)."""
    spec = state.spec
    if spec.window is not None and not spec.window.open_at(now):
        return 0
    per_min = spec.sends_per_minute()
    if per_min is None:
        return None
    used = sum(n for at, n in state.sends if at > now - SEND_WINDOW_S)
    return max(0, per_min - used)


def due_retries(state: RolloutState, now: float) -> list[str]:
    """Failed devices whose next retry is due (retry policy: exponential backoff, a maximum)."""
    pol = state.spec.retry
    if pol.max_retries == 0:
        return []
    return sorted(
        d
        for d, r in state.devices.items()
        if r.status is DeviceStatus.FAILED
        and r.retries < pol.max_retries
        and r.failed_at is not None
        and now >= r.failed_at + pol.delay(r.retries)
    )


def _send(b: _Builder, snapshot: FleetSnapshot, runtime_ops: Mapping[str, frozenset[str] | None]) -> bool:
    """Retries that are due, then (in ``running``) new assignments, within the send budget.
    True when the planner withheld devices (window closed or bandwidth used up)."""
    st = b.state
    budget = send_budget(st, b.now)
    retry = due_retries(st, b.now)
    if budget is not None:
        retry = retry[:budget]
        budget -= len(retry)
    if retry:
        b.emit(EventKind.RETRIED, devices=tuple(retry))
        pkg = st.spec.package.ref
        b.retry.extend(Assignment(d, pkg, st.devices[d].previous, st.devices[d].stage) for d in retry)
    if b.state.status is not Status.RUNNING:
        return False
    p = planner.plan(b.state, snapshot, runtime_ops, limit=budget)
    if p.skipped:
        b.emit(EventKind.SKIPPED, stage=st.stage, skipped=dict(p.skipped))
    if p.assign:
        b.emit(
            EventKind.ASSIGNED,
            stage=st.stage,
            devices=tuple(d for d, _ in p.assign),
            previous=tuple(prev for _, prev in p.assign),
        )
        b.assign.extend(Assignment(d, st.spec.package.ref, prev, st.stage) for d, prev in p.assign)
    return p.withheld


def cohorts(state: RolloutState, snapshot: FleetSnapshot) -> tuple[list[str], list[str]]:
    """(canary, control) device ids: confirmed devices of the rollout; untouched, unskipped target
    devices that no other rollout holds."""
    canary = sorted(d for d, r in state.devices.items() if r.status is DeviceStatus.CONFIRMED)
    control = []
    for d in snapshot.target:
        if d in state.devices or d in state.skipped:
            continue
        view = snapshot.devices.get(d)
        if view is not None and view.active_rollout in (None, state.rollout_id) and view.current is not None:
            control.append(d)
    return canary, sorted(control)


def _cohort(
    ids: list[str],
    snapshot: FleetSnapshot,
    state: RolloutState,
    ref_of: Mapping[str, VersionRef],
    now: float | None = None,
) -> CohortStats:
    """Figures of one cohort: each device's window for the version it runs; with ``now``, windows whose
    last report is older than ``health.window_s`` are left out (stale telemetry decides nothing)."""
    health = state.spec.health
    oldest = None if now is None else now - health.window_s
    pairs = []
    for d in ids:
        ref = ref_of[d]
        w = snapshot.telemetry.get(d)
        if w is not None and w.model == ref.version and (oldest is None or w.last_ts >= oldest):
            pairs.append((ref.key, w))
    return cohort_stats(pairs, snapshot.baselines, health.metric, health.signal, devices=len(ids))


def cohort_figures(
    state: RolloutState, snapshot: FleetSnapshot, now: float | None = None
) -> tuple[CohortStats, CohortStats]:
    """(canary, control) health figures over the snapshot's telemetry, as the ML gates see them
    (pass ``now`` to leave out windows older than ``health.window_s``, as ``step`` does)."""
    canary, control = cohorts(state, snapshot)
    pkg = state.spec.package.ref
    refs: dict[str, VersionRef] = {d: pkg for d in canary}
    for d in control:
        cur = snapshot.devices[d].current
        assert cur is not None
        refs[d] = cur
    return _cohort(canary, snapshot, state, refs, now), _cohort(control, snapshot, state, refs, now)


def health(state: RolloutState, snapshot: FleetSnapshot, now: float) -> list[Verdict]:
    """The ML health verdicts the engine acts on at ``now`` (a waived stage: ``skip``): the one
    evaluation the scheduler's step and the dashboard both use."""
    if not state.spec.health.bounds:
        return []
    if state.stage == state.waived_stage:
        return [
            Verdict(b.gate, Outcome.SKIP, None, b.bound, "waived: an operator promoted over a hold")
            for b in state.spec.health.bounds
        ]
    return health_verdicts(state.spec.health, *cohort_figures(state, snapshot, now))


def _looked_at(state: RolloutState, snapshot: FleetSnapshot) -> Iterable[tuple[str, DeviceRecord]]:
    """Touched devices whose view may have changed since the previous step (all without the hint)."""
    if snapshot.changed is None:
        return state.devices.items()
    return ((d, state.devices[d]) for d in snapshot.changed if d in state.devices)


def _record_reports(b: _Builder, snapshot: FleetSnapshot) -> None:
    pkg = b.state.spec.package.ref
    confirmed: list[str] = []
    failed: list[str] = []
    for d, rec in _looked_at(b.state, snapshot):
        if rec.status not in (DeviceStatus.ASSIGNED, DeviceStatus.CONFIRMED, DeviceStatus.FAILED):
            continue
        view = snapshot.devices.get(d)
        if view is None:
            continue
        if view.outcome is DeviceOutcome.CONFIRMED and pkg.same_model(view.current):
            new = DeviceStatus.CONFIRMED
        elif view.outcome is DeviceOutcome.FAILED or (
            view.outcome is DeviceOutcome.CONFIRMED and rec.status is DeviceStatus.CONFIRMED
        ):
            new = DeviceStatus.FAILED  # failed, or confirmed earlier and no longer runs the package
        else:
            continue
        if new is not rec.status:
            (confirmed if new is DeviceStatus.CONFIRMED else failed).append(d)
    if confirmed or failed:
        b.emit(EventKind.REPORTED, devices=tuple(sorted(confirmed)), failed=tuple(sorted(failed)))


def refuses_rollback(previous: VersionRef | None, view: DeviceView, counters: Mapping[str, int]) -> bool:
    """True when the device reported its rollback failed *because* of anti-rollback: it runs a model
    whose security counter is higher than the counter of the version it was sent back to (a failure
    for any other reason leaves the device waiting: it may still succeed on a retry)."""
    if previous is None or view.outcome is not DeviceOutcome.FAILED:
        return False
    floor = counters.get(previous.key)
    return floor is not None and view.security_counter > floor


def _record_restored(b: _Builder, snapshot: FleetSnapshot) -> None:
    back, refused = [], []
    for d, rec in _looked_at(b.state, snapshot):
        if rec.status is not DeviceStatus.ROLLBACK_ISSUED:
            continue
        view = snapshot.devices.get(d)
        if view is None:
            continue
        if rec.previous is not None and rec.previous.same_model(view.current):
            back.append(d)
        elif refuses_rollback(rec.previous, view, snapshot.counters):
            refused.append(d)
    if back:
        b.emit(EventKind.RESTORED, devices=tuple(sorted(back)))
    if refused:
        b.emit(EventKind.ROLLBACK_REFUSED, devices=tuple(sorted(refused)))


def refused_devices(state: RolloutState) -> list[str]:
    """Devices that refused their rollback (anti-rollback) and keep the new version."""
    if state.count(DeviceStatus.ROLLBACK_REFUSED) == 0:
        return []
    return sorted(d for d, r in state.devices.items() if r.status is DeviceStatus.ROLLBACK_REFUSED)


def _next_trigger(state: RolloutState, last: Trigger, approval: Trigger, plain: Trigger) -> Trigger:
    nxt = state.stage + 1
    if nxt >= len(state.spec.stages):
        return last
    return approval if state.spec.stages[nxt].manual_approval else plain


def _gate_abort(b: _Builder, snapshot: FleetSnapshot) -> bool:
    """Error gates first, then health gates; True when the rollout left RUNNING/SOAKING."""
    stage = b.state.spec.stages[b.state.stage]
    errors = error_verdicts(_stage_stats(b.state), stage.error)
    b.verdicts.extend(errors)
    fired = [v for v in errors if v.outcome is Outcome.FAIL]
    if fired:
        b.transition(Trigger.ERROR_THRESHOLD, fired, reason="; ".join(v.detail for v in fired))
        return True
    ml = health(b.state, snapshot, b.now)
    b.verdicts.extend(ml)
    actions = {bd.gate: bd.action for bd in b.state.spec.health.bounds}
    failing = [v for v in ml if v.outcome is Outcome.FAIL]
    rollback = [v for v in failing if actions[v.gate] is GateAction.ROLLBACK]
    if rollback:
        b.transition(
            Trigger.HEALTH_ROLLBACK,
            rollback,
            reason="; ".join(f"{v.gate.value}: {v.detail}" for v in rollback),
        )
        return True
    if failing:
        b.transition(
            Trigger.HEALTH_HOLD, failing, reason="; ".join(f"{v.gate.value}: {v.detail}" for v in failing)
        )
        return True
    return False


def _tick(b: _Builder, snapshot: FleetSnapshot, runtime_ops: Mapping[str, frozenset[str] | None]) -> bool:
    """One decision in the current state; True when the state changed and another look is due."""
    st = b.state
    if st.status is Status.CREATED:
        if st.spec.start_at is not None and b.now < st.spec.start_at:
            return False  # scheduled start
        b.transition(Trigger.START_APPROVAL if st.spec.stages[0].manual_approval else Trigger.START)
        return True
    if st.status is Status.ABORTING:
        _record_restored(b, snapshot)
        if all(r.status in DONE for r in b.state.devices.values()):
            refused = refused_devices(b.state)
            if refused:
                shown = ", ".join(refused[:20]) + (
                    f" and {len(refused) - 20} more" if len(refused) > 20 else ""
                )
                b.transition(
                    Trigger.PARTLY_RESTORED,
                    reason="; ".join(
                        r
                        for r in (
                            b.state.reason,
                            f"{len(refused)} device(s) refused the rollback (anti-rollback): {shown}",
                        )
                        if r
                    ),
                )
            else:
                b.transition(Trigger.ALL_RESTORED)
        return False
    if st.status not in (Status.RUNNING, Status.SOAKING):
        return False
    if _gate_abort(b, snapshot):
        return True
    stage = st.spec.stages[st.stage]
    withheld = _send(b, snapshot, runtime_ops)
    if st.status is Status.RUNNING:
        if withheld:
            return False  # the stage is not full yet: it waits for the window / bandwidth
        ok = success_share(_stage_stats(b.state), stage.success_share)
        b.verdicts.append(ok)
        if ok.outcome is Outcome.PASS:
            b.transition(Trigger.SUCCESS_MET, [ok])
            return True
        return False
    ok = success_share(_stage_stats(b.state), stage.success_share)
    b.verdicts.append(ok)
    if ok.outcome is not Outcome.PASS:
        b.transition(Trigger.SUCCESS_LOST, [ok])
        return True
    assert st.soak_since is not None
    if b.now - st.soak_since < stage.soak_s:
        return False
    health = [v for v in b.verdicts if v.gate in {bd.gate for bd in st.spec.health.bounds}]
    waiting = [v for v in health if v.outcome is Outcome.WAIT]
    if waiting:
        return _inconclusive_timeout(b, waiting, b.now - st.soak_since - stage.soak_s)
    b.transition(
        _next_trigger(st, Trigger.LAST_STAGE_PASSED, Trigger.STAGE_PASSED_APPROVAL, Trigger.STAGE_PASSED),
        [ok, *health],
        reason=f"soaked {b.now - st.soak_since:g} s >= {stage.soak_s:g} s",
    )
    return True


def _inconclusive_timeout(b: _Builder, waiting: list[Verdict], waited: float) -> bool:
    """Inconclusive gates hold a soaked stage; after ``health.max_wait_s`` the stage's health
    ``on_timeout`` action (hold or rollback) is taken. True when the rollout changed state."""
    health = b.state.spec.health
    if health.max_wait_s is None or waited < health.max_wait_s:
        return False
    trig = Trigger.HEALTH_ROLLBACK if health.on_timeout is GateAction.ROLLBACK else Trigger.HEALTH_HOLD
    why = "; ".join(f"{v.gate.value}: {v.detail}" for v in waiting)
    b.transition(
        trig, waiting, reason=f"inconclusive {waited:g} s >= max_wait_s {health.max_wait_s:g}: {why}"
    )
    return True


def step(
    state: RolloutState,
    snapshot: FleetSnapshot,
    now: float,
    runtime_ops: Mapping[str, frozenset[str] | None] = compat.RUNTIME_OPS,
) -> Decision:
    """One scheduler tick: record device results, evaluate gates, move stages, assign, roll back."""
    b = _Builder(state, now)
    if state.terminal:
        return b.decision()
    if state.error:
        b.emit(EventKind.RECOVERED, reason=f"step succeeded again after: {state.error}")
    _record_reports(b, snapshot)
    for _ in range(4 * len(state.spec.stages) + 4):
        b.verdicts.clear()
        if not _tick(b, snapshot, runtime_ops):
            break
    return b.decision()


MAX_FAULT_CHARS = 200


def fault(state: RolloutState, now: float, message: str) -> Decision:
    """Record that a step of this rollout failed (``message``: one line); nothing else changes.

    The same message as the one on record adds no event, so a fault that repeats every tick is
    stored once; the next successful ``step`` records ``recovered``."""
    b = _Builder(state, now)
    line = " ".join(message.split())[:MAX_FAULT_CHARS] or "step failed"
    if not state.terminal and line != state.error:
        b.emit(EventKind.FAULT, reason=line)
    return b.decision()


def command(state: RolloutState, cmd: Command | str, now: float, by: str = "", reason: str = "") -> Decision:
    """An operator's pause/resume/promote/abort. Commands never assign; the next ``step`` does.

    Raises UsageError when the command does not apply in the current state.
    """
    c = Command(cmd)
    b = _Builder(state, now)
    if c is Command.PAUSE:
        trig = Trigger.PAUSE
    elif c is Command.RESUME:
        trig = Trigger.RESUME
    elif c is Command.ABORT:
        trig = Trigger.ABORT
    elif state.status is Status.WAITING_APPROVAL:
        trig = Trigger.PROMOTE
    else:
        trig = _next_trigger(state, Trigger.PROMOTE_LAST, Trigger.PROMOTE_APPROVAL, Trigger.PROMOTE)
    if lookup(state.status, trig) is None:
        raise UsageError(f"cannot {c.value} a rollout that is {state.status.value}")
    b.transition(trig, reason=reason or f"operator {c.value}", by=by)
    return b.decision()


def summary(state: RolloutState) -> dict[str, Any]:
    """Status for the API and CLI: state, stage, device counts per status, skipped devices."""
    stages = state.spec.stages
    counts = {s.value: state.count(s) for s in DeviceStatus}
    return {
        "rollout_id": state.rollout_id,
        "status": state.status.value,
        "stage": state.stage,
        "stage_name": stages[state.stage].name if 0 <= state.stage < len(stages) else None,
        "stages": len(stages),
        "devices": counts,
        "touched": len(state.devices),
        "skipped": {d: list(r) for d, r in sorted(state.skipped.items())},
        "rollback_refused": refused_devices(state),
        "error": state.error,
        "reason": state.reason,
        "package": state.spec.package.ref.key,
        "updated_at": state.updated_at,
    }
