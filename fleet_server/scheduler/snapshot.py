"""Load what the rollout engine reads (a :class:`FleetSnapshot`) from the database, in the tick's
transaction. The only place that turns device rows, OTA events and telemetry into engine inputs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinyfleet.errors import TinyfleetError
from tinyfleet.server.db import Assignment, Device, DeviceEventRow, ModelRow, Rollout, TelemetryRow
from tinyfleet.server.devices import resolve_target
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.window import Window, merge
from tinyfleet.server.rollout.events import DeviceStatus, RolloutState
from tinyfleet.server.rollout.model import DeviceOutcome, DeviceView, FleetSnapshot, VersionRef
from tinyfleet.states import EventType, UpdateState

__all__ = ["UPDATING", "build_snapshot", "device_outcome", "version_ref"]

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


def build_snapshot(s: Session, row: Rollout, state: RolloutState, now: float) -> FleetSnapshot:
    target = resolve_target(s, row.target)
    ids = sorted(set(target) | set(state.devices))
    deployments = dict(
        s.execute(
            select(Assignment.device_id, Assignment.deployment_id).where(Assignment.rollout_id == row.id)
        )
        .tuples()
        .all()
    )
    last = _last_events(s, list(deployments.values()))
    devices: dict[str, Any] = {}
    for chunk in _chunks(ids):
        devices.update({d.id: d for d in s.execute(select(*_VIEW_COLUMNS).where(Device.id.in_(chunk)))})
    views: dict[str, DeviceView] = {}
    for d_id, dev in devices.items():
        dep = deployments.get(d_id)
        views[d_id] = DeviceView(
            device_id=d_id,
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
    counters = _rollback_counters(s, state)
    telemetry: dict[str, Window] = {}
    baselines: dict[str, Baseline] = {}
    health = state.spec.health
    if health.bounds:
        start = now - health.window_s
        reports: dict[str, list[TelemetryRow]] = {}
        for chunk in _chunks([d for d in ids if d in devices]):
            for t in s.scalars(
                select(TelemetryRow).where(TelemetryRow.device_id.in_(chunk), TelemetryRow.ts >= start)
            ):
                reports.setdefault(t.device_id, []).append(t)
        for d_id, rows in reports.items():
            ref = version_ref(devices[d_id])
            if ref is not None:
                telemetry[d_id] = merge(rows, start, now + 1.0, ref.version)
        versions = {(v.current.name, v.current.version) for v in views.values() if v.current is not None}
        versions.add((state.spec.package.name, state.spec.package.version))
        for m in s.scalars(select(ModelRow).where(ModelRow.name.in_({n for n, _ in versions}))):
            if (m.name, m.version) in versions and (b := _baseline(m.manifest)) is not None:
                baselines[f"{m.name}@{m.version}"] = b
    return FleetSnapshot(
        target=tuple(target), devices=views, telemetry=telemetry, baselines=baselines, counters=counters
    )


def _rollback_counters(s: Session, state: RolloutState) -> dict[str, int]:
    """Security counters of the versions this rollout sent devices back to (read only while some
    rollback is outstanding: the engine needs them to recognise an anti-rollback refusal)."""
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
