"""Load what the rollout engine reads (a :class:`FleetSnapshot`) from the database, in the tick's
transaction. The only place that turns device rows, OTA events and telemetry into engine inputs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinyfleet.errors import TinyfleetError, UsageError
from tinyfleet.server.db import (
    Assignment,
    Device,
    DeviceEventRow,
    Group,
    GroupMember,
    ModelRow,
    Rollout,
    TelemetryRow,
)
from tinyfleet.server.devices import matches, resolve_target, validate_tags
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.window import Window, merge
from tinyfleet.server.rollout.events import DeviceStatus, RolloutState
from tinyfleet.server.rollout.model import DeviceOutcome, DeviceView, FleetSnapshot, VersionRef
from tinyfleet.states import EventType, UpdateState

__all__ = [
    "FULL_EVERY_S",
    "UPDATING",
    "SnapshotEntry",
    "build_snapshot",
    "device_outcome",
    "forget",
    "remember",
    "step_snapshot",
    "version_ref",
]

log = logging.getLogger("tinyfleet.scheduler")

FAILED_EVENTS = frozenset(
    {
        EventType.VERIFY_FAILED,
        EventType.SELF_TEST_FAILED,
        EventType.ROLLED_BACK,
        EventType.INCOMPATIBLE,
        EventType.FAILED,
    }
)
# update states of a device still applying its desired state (the dashboard counts them as "updating")
UPDATING = frozenset(
    {UpdateState.DOWNLOADING, UpdateState.VERIFYING, UpdateState.INSTALLING, UpdateState.TESTING}
)
_CHUNK = 5000


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


# only what a DeviceView needs (rows, not ORM objects: a tick may look at every device of the fleet)
_VIEW_COLUMNS = (
    Device.id,
    Device.board,
    Device.model_name,
    Device.model_version,
    Device.model_sha256,
    Device.runtimes,
    Device.rollout_id,
    Device.online,
    Device.arena_budget,
    Device.flash_budget,
    Device.deployment_id,
    Device.update_state,
    Device.security_counter,
)


def version_ref(dev: Any) -> VersionRef | None:
    if not dev.model_name or not dev.model_version:
        return None
    return VersionRef(dev.model_name, dev.model_version, dev.model_sha256 or "")


def device_outcome(dev: Any, deployment_id: str | None, last_event: EventType | None) -> DeviceOutcome:
    """A device's install result for one deployment: its OTA events first, else its reported state."""
    if deployment_id is None:
        return DeviceOutcome.NONE
    if last_event in FAILED_EVENTS:
        return DeviceOutcome.FAILED
    if last_event == EventType.CONFIRMED:
        return DeviceOutcome.CONFIRMED
    if dev.deployment_id == deployment_id:
        if dev.update_state in (UpdateState.FAILED, UpdateState.ROLLED_BACK):
            return DeviceOutcome.FAILED
        if dev.update_state in (UpdateState.CONFIRMED, UpdateState.IDLE) and dev.model_version:
            return DeviceOutcome.CONFIRMED
        if dev.update_state in UPDATING:
            return DeviceOutcome.PENDING
    return DeviceOutcome.PENDING if last_event else DeviceOutcome.NONE


def _last_events(s: Session, deployments: Sequence[str]) -> dict[str, EventType]:
    out: dict[str, EventType] = {}
    for chunk in _chunks(list(deployments)):
        rows = s.execute(
            select(DeviceEventRow.deployment_id, DeviceEventRow.type)
            .where(
                DeviceEventRow.deployment_id.in_(chunk),
                DeviceEventRow.type.in_([*FAILED_EVENTS, EventType.CONFIRMED]),
            )
            .order_by(DeviceEventRow.id)
        )
        for dep, typ in rows:
            out[dep] = typ
    return out


def _baseline(manifest: dict[str, Any]) -> Baseline | None:
    raw = manifest.get("drift_baseline")
    if raw is None:
        return None
    try:
        return Baseline.from_manifest(raw)
    except TinyfleetError as exc:
        log.warning(
            "model %s %s: unusable drift baseline: %s", manifest.get("name"), manifest.get("version"), exc
        )
        return None


def _read_views(
    s: Session, ids: Sequence[str], deployments: Mapping[str, str], last: Mapping[str, EventType]
) -> dict[str, DeviceView]:
    views: dict[str, DeviceView] = {}
    for chunk in _chunks(list(ids)):
        for dev in s.execute(select(*_VIEW_COLUMNS).where(Device.id.in_(chunk))):
            dep = deployments.get(dev.id)
            views[dev.id] = DeviceView(
                device_id=dev.id,
                board=dev.board,
                current=version_ref(dev),
                runtimes=tuple(dev.runtimes or ()),
                active_rollout=str(dev.rollout_id) if dev.rollout_id is not None else None,
                outcome=device_outcome(dev, dep, last.get(dep) if dep else None),
                online=dev.online,
                arena_budget=dev.arena_budget,
                flash_budget=dev.flash_budget,
                security_counter=dev.security_counter or 0,
            )
    return views


def _members(s: Session, target: Mapping[str, Any], ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` the target (group or selector) holds now (UsageError: no such group)."""
    selector: Mapping[str, str] | None = None
    if target.get("group") is not None:
        group = s.get(Group, target["group"])
        if group is None:
            raise UsageError(f"no group named {target['group']!r}")
        if group.selector is None:
            out: set[str] = set()
            for chunk in _chunks(list(ids)):
                out.update(
                    s.scalars(
                        select(GroupMember.device_id).where(
                            GroupMember.group_name == group.name, GroupMember.device_id.in_(chunk)
                        )
                    )
                )
            return out
        selector = group.selector
    elif target.get("selector"):
        selector = validate_tags(target["selector"])
    else:
        raise UsageError("target needs a group or a selector")
    out = set()
    for chunk in _chunks(list(ids)):
        rows = s.execute(select(Device.id, Device.tags).where(Device.id.in_(chunk)))
        out.update(d for d, tags in rows if matches(tags or {}, selector))
    return out


@dataclass
class SnapshotEntry:
    """What one process keeps of a rollout's last snapshot, to re-read only what changed since."""

    target_spec: dict[str, Any]
    target: tuple[str, ...]
    target_set: frozenset[str]
    views: dict[str, DeviceView]
    deployments: dict[str, str]
    last: dict[str, EventType]  # deployment id -> its latest result event (failed kinds or confirmed)
    mark: float  # server time just before the reads of this snapshot
    full_at: float  # server time of the last full read
    stamps: dict[str, float] = field(default_factory=dict)  # changed_at of the devices last re-read


FULL_EVERY_S = 30.0  # a full re-read at least this often: deleted devices, tag and group edits
SLACK_S = 35.0  # a row whose commit came this much after the time it carries is still seen (> SQLite's 30 s busy wait)


def _full(s: Session, row: Rollout, state: RolloutState, mark: float) -> SnapshotEntry:
    stamps = {
        d: float(t or 0.0)
        for d, t in s.execute(select(Device.id, Device.changed_at).where(Device.changed_at > mark - SLACK_S))
    }
    target = tuple(resolve_target(s, row.target))
    ids = sorted(set(target) | set(state.devices))
    deployments = {
        d: dep
        for d, dep in s.execute(
            select(Assignment.device_id, Assignment.deployment_id).where(Assignment.rollout_id == row.id)
        )
    }
    last = _last_events(s, list(deployments.values()))
    views = _read_views(s, ids, deployments, last)
    return SnapshotEntry(
        dict(row.target), target, frozenset(target), views, deployments, last, mark, mark, stamps
    )


def _incremental(
    s: Session, row: Rollout, state: RolloutState, old: SnapshotEntry, mark: float
) -> tuple[SnapshotEntry, frozenset[str]]:
    """``old`` brought up to date in place (the caller forgets it when the step fails)."""
    since = old.mark - SLACK_S
    stamps = old.stamps
    for d in [d for d, t in stamps.items() if t <= since]:
        del stamps[d]
    changed: set[str] = set()
    for d, t in s.execute(select(Device.id, Device.changed_at).where(Device.changed_at > since)):
        if stamps.get(d) != t:  # rows inside the slack seen by the previous step are not read again
            stamps[d] = float(t or 0.0)
            changed.add(d)
    deployments = old.deployments
    for d, dep in s.execute(
        select(Assignment.device_id, Assignment.deployment_id).where(
            Assignment.rollout_id == row.id, Assignment.updated_at > since
        )
    ):
        if deployments.get(d) != dep:
            deployments[d] = dep
            changed.add(d)
    if len(old.views) < len(state.devices) or any(d not in old.views for d in changed if d in state.devices):
        changed.update(d for d in state.devices if d not in old.views)  # touched but never read
    if changed:
        members = _members(s, row.target, sorted(changed))
        in_old = old.target_set
        if any((d in members) != (d in in_old) for d in changed):
            old.target_set = frozenset((in_old - changed) | members)
            old.target = tuple(sorted(old.target_set))
            for d in changed:
                if d not in old.target_set and d not in state.devices:
                    old.views.pop(d, None)
    reread = sorted(d for d in changed if d in old.target_set or d in state.devices)
    deps = [deployments[d] for d in reread if d in deployments]
    fresh = _last_events(s, deps)
    for dep in deps:
        if dep in fresh:
            old.last[dep] = fresh[dep]
        else:
            old.last.pop(dep, None)
    old.views.update(_read_views(s, reread, deployments, old.last))
    old.mark = mark
    return old, frozenset(reread)


# per process: the last snapshot entry per (database, rollout), kept only after its step committed
_SNAPSHOTS: dict[tuple[str, int], SnapshotEntry] = {}
_SNAPSHOTS_LOCK = threading.Lock()


def remember(key: tuple[str, int], entry: SnapshotEntry) -> None:
    """Keep ``entry`` for the next step of rollout ``key`` = (database URL, rollout id)."""
    with _SNAPSHOTS_LOCK:
        if len(_SNAPSHOTS) > 1000:
            _SNAPSHOTS.clear()
        _SNAPSHOTS[key] = entry


def forget(key: tuple[str, int]) -> None:
    """Drop the entry: the next step of that rollout reads everything again."""
    with _SNAPSHOTS_LOCK:
        _SNAPSHOTS.pop(key, None)


def build_snapshot(s: Session, row: Rollout, state: RolloutState, now: float) -> FleetSnapshot:
    """The engine's input read in full (status displays; the scheduler uses ``step_snapshot``)."""
    return step_snapshot(s, row, state, now)[0]


def step_snapshot(
    s: Session, row: Rollout, state: RolloutState, now: float, *, cache_key: tuple[str, int] | None = None
) -> tuple[FleetSnapshot, SnapshotEntry]:
    """The engine's input for one step, and the entry to ``remember`` once the step committed.

    With an entry of this process from the previous step under ``cache_key`` (and a full read less than
    ``FULL_EVERY_S`` ago), only devices whose state or OTA events changed since (``devices.changed_at``)
    and devices whose assignment changed are read again; ``FleetSnapshot.changed`` names them, so
    the engine looks only at those. Otherwise every target and touched device is read."""
    mark = time.time()
    with _SNAPSHOTS_LOCK:
        old = _SNAPSHOTS.get(cache_key) if cache_key is not None else None
    changed: frozenset[str] | None = None
    if old is None or old.target_spec != row.target or mark - old.full_at > FULL_EVERY_S:
        entry = _full(s, row, state, mark)
    else:
        entry, changed = _incremental(s, row, state, old, mark)
    counters = _rollback_counters(s, state)
    telemetry: dict[str, Window] = {}
    baselines: dict[str, Baseline] = {}
    health = state.spec.health
    if health.bounds:  # telemetry of every target device: this part still costs the fleet size
        ids = list(entry.views)
        start = now - health.window_s
        reports: dict[str, list[TelemetryRow]] = {}
        for chunk in _chunks(ids):
            for t in s.scalars(
                select(TelemetryRow).where(TelemetryRow.device_id.in_(chunk), TelemetryRow.ts >= start)
            ):
                reports.setdefault(t.device_id, []).append(t)
        for d_id, rows in reports.items():
            ref = entry.views[d_id].current
            if ref is not None:
                telemetry[d_id] = merge(rows, start, now + 1.0, ref.version)
        versions = {
            (v.current.name, v.current.version) for v in entry.views.values() if v.current is not None
        }
        versions.add((state.spec.package.name, state.spec.package.version))
        for m in s.scalars(select(ModelRow).where(ModelRow.name.in_({n for n, _ in versions}))):
            if (m.name, m.version) in versions and (b := _baseline(m.manifest)) is not None:
                baselines[f"{m.name}@{m.version}"] = b
    snap = FleetSnapshot(
        target=entry.target,
        devices=entry.views,
        telemetry=telemetry,
        baselines=baselines,
        counters=counters,
        changed=changed,
    )
    return snap, entry


def _rollback_counters(s: Session, state: RolloutState) -> dict[str, int]:
    """Security counters of the versions this rollout sent devices back to (read only while some
    rollback is outstanding: the engine needs them to recognise an anti-rollback refusal)."""
    if state.count(DeviceStatus.ROLLBACK_ISSUED) == 0:
        return {}
    wanted = {
        (r.previous.name, r.previous.version)
        for r in state.devices.values()
        if r.status is DeviceStatus.ROLLBACK_ISSUED and r.previous is not None
    }
    if not wanted:
        return {}
    rows = s.execute(
        select(ModelRow.name, ModelRow.version, ModelRow.security_counter).where(
            ModelRow.name.in_({n for n, _ in wanted})
        )
    )
    return {f"{n}@{v}": int(c) for n, v, c in rows if (n, v) in wanted}
