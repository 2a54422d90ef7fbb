"""The dashboard's helper routes under ``/api/v1/ui``: who am I, and read-only views
that put together what a page shows (computed by the server's own functions, never re-implemented).

Every route needs a viewer token or better; none of them changes anything.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from tinyfleet.drift import Metric
from tinyfleet.rollout_status import ACTIVE, RolloutStatus
from tinyfleet.server.api.deps import DB, Viewer
from tinyfleet.server.dashboard.rollout_view import allowed_actions, gate_view, stages_view
from tinyfleet.server.dashboard.views import Report, audit_entry, drift_view, telemetry_points
from tinyfleet.server.db import Device, ModelRow, Rollout, RolloutEvent, TelemetryRow
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.cohort import Signal
from tinyfleet.server.scheduler.handler import load_state
from tinyfleet.server.scheduler.snapshot import FAILED_EVENTS, UPDATING, build_snapshot
from tinyfleet.states import EventType, SlotState, UpdateState

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/ui", tags=["dashboard"])


class WhoAmIOut(BaseModel):
    name: str
    role: Literal["viewer", "operator", "admin"]


class StatesOut(BaseModel):
    """The contract's value sets as the dashboard needs them (from the enums, never restated in JS)."""

    update: list[UpdateState]
    updating: list[UpdateState] = Field(
        description="update states of a device still applying its desired state"
    )
    slot: list[SlotState]
    event: list[EventType]
    event_failed: list[EventType] = Field(description="OTA events that end a deployment as failed")
    rollout: list[RolloutStatus]
    rollout_active: list[RolloutStatus]


@router.get("/whoami", response_model=WhoAmIOut)
def whoami(caller: Viewer) -> WhoAmIOut:
    """The token's name and role (the dashboard hides actions a viewer may not take)."""
    assert caller.role is not None
    return WhoAmIOut(name=caller.name, role=caller.role.name.lower())  # type: ignore[arg-type]


@router.get("/states", response_model=StatesOut)
def states(_: Viewer) -> StatesOut:
    """Every value of the state enums, in declaration order, and the subsets the pages count."""
    return StatesOut(
        update=list(UpdateState),
        updating=[u for u in UpdateState if u in UPDATING],
        slot=list(SlotState),
        event=list(EventType),
        event_failed=[e for e in EventType if e in FAILED_EVENTS],
        rollout=list(RolloutStatus),
        rollout_active=[r for r in RolloutStatus if r in ACTIVE],
    )


@router.get("/devices/{device_id}/telemetry")
def device_telemetry(
    device_id: str,
    s: DB,
    _: Viewer,
    since_s: Annotated[float, Query(gt=0, le=30 * 86400)] = 3600.0,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> list[dict[str, Any]]:
    """The device's telemetry reports of the last ``since_s`` seconds (newest ``limit``), in time order."""
    if s.get(Device, device_id) is None:
        raise HTTPException(404, f"no device {device_id}")
    rows = s.scalars(
        select(TelemetryRow)
        .where(TelemetryRow.device_id == device_id, TelemetryRow.ts >= time.time() - since_s)
        .order_by(TelemetryRow.ts.desc())
        .limit(limit)
    )
    return telemetry_points(rows)


@router.get("/drift/{name}/{version}")
def drift_detail(
    name: str,
    version: str,
    s: DB,
    _: Viewer,
    metric: Annotated[Metric, Query()] = "psi",
    signal: Annotated[Signal, Query()] = Signal.OUTPUT,
    window_s: Annotated[float, Query(gt=0, le=30 * 86400)] = 3600.0,
    buckets: Annotated[int, Query(ge=1, le=240)] = 30,
) -> dict[str, Any]:
    """One model version's drift score per time bucket against the package baseline, and the live
    window's histograms beside the baseline's (the charts of the drift page)."""
    m = s.scalar(select(ModelRow).where(ModelRow.name == name, ModelRow.version == version))
    if m is None:
        raise HTTPException(404, f"no model {name} {version}")
    raw = m.manifest.get("drift_baseline")
    if not isinstance(raw, dict):
        raise HTTPException(409, f"model {name} {version} has no drift baseline")
    baseline = Baseline.from_manifest(raw)
    end = time.time()
    start = end - window_s
    ids = select(Device.id).where(Device.model_name == name, Device.model_version == version)  # as GET /drift
    rows = s.scalars(
        select(TelemetryRow).where(
            TelemetryRow.model_version == version, TelemetryRow.ts >= start, TelemetryRow.device_id.in_(ids)
        )
    )
    reports = [
        Report(
            r.device_id,
            r.ts,
            r.model_version,
            r.n,
            r.err,
            r.lat_p95_us,
            r.input_hist or [],
            r.cls or [],
            r.conf or [],
        )
        for r in rows
    ]
    view = drift_view(baseline, reports, version, start, end, buckets, metric, signal)
    view.update(name=name, version=version)
    return view


@router.get("/audit")
def audit(
    s: DB, _: Viewer, rollout_id: int | None = None, limit: Annotated[int, Query(ge=1, le=2000)] = 500
) -> list[dict[str, Any]]:
    """The audit trail, newest first: every rollout event with who caused it (an operator or the scheduler)."""
    q = (
        select(RolloutEvent, Rollout.name, Rollout.created_by)
        .join(Rollout, Rollout.id == RolloutEvent.rollout_id)
        .order_by(RolloutEvent.id.desc())
        .limit(limit)
    )
    if rollout_id is not None:
        q = q.where(RolloutEvent.rollout_id == rollout_id)
    return [audit_entry(ev, name, by) for ev, name, by in s.execute(q).tuples()]


@router.get("/rollouts/{rollout_id}")
def rollout_view(rollout_id: int, s: DB, _: Viewer) -> dict[str, Any]:
    """What the rollout page shows besides ``GET /api/v1/rollouts/{id}``: per-stage progress, the
    commands allowed now, and the ML health gate (canary vs control) computed as the scheduler does."""
    row = s.get(Rollout, rollout_id)
    if row is None:
        raise HTTPException(404, f"no rollout {rollout_id}")
    state = load_state(s, rollout_id)
    now = time.time()
    snapshot = build_snapshot(s, row, state, now)
    return {
        "id": rollout_id,
        "status": state.status.value,
        "stage": state.stage,
        "stages": stages_view(state, len(snapshot.target)),
        "actions": allowed_actions(state, now),
        "gates": gate_view(state, snapshot, now),
        "reason": state.reason,
    }
