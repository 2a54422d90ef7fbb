"""Rollouts: create, list, status, event log (audit trail), pause/resume/promote/abort."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinyfleet.errors import UsageError
from tinyfleet.rollout_status import ACTIVE
from tinyfleet.server.api.deps import DB, RT, Caller, Operator, Viewer
from tinyfleet.server.api.schemas import RolloutDetailOut, RolloutDeviceOut, RolloutEventOut, RolloutOut
from tinyfleet.server.db import Assignment, Rollout, RolloutEvent
from tinyfleet.server.devices import resolve_target
from tinyfleet.server.rollout.engine import Command
from tinyfleet.server.runtime import Runtime
from tinyfleet.server.scheduler.handler import (
    NotFound,
    create_rollout,
    load_state,
    rollout_summary,
    run_command,
)

router = APIRouter(prefix="/api/v1", tags=["rollouts"])


class RolloutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=64, description="default: MODEL-VERSION (cut to 64 characters)")
    model: str = Field(description="model name")
    version: str = Field(description="model version in the registry")
    target: dict[str, Any] = Field(description='{"group": NAME} or {"selector": {TAG: VALUE}}')
    stages: list[dict[str, Any]] = Field(
        description="docs/rollouts.md: name, devices|count|percent, success_share, "
        "error {max_failed, max_failed_share}, soak_s, manual_approval"
    )
    health: dict[str, Any] | None = Field(
        default=None, description="ML health gate: bounds, metric, signal, min_samples, window_s"
    )
    retry: dict[str, Any] | None = Field(
        default=None, description="automatic retries: max_retries (0-10), backoff_s, factor, max_backoff_s"
    )
    window: dict[str, Any] | None = Field(
        default=None, description="maintenance window: cron (5 fields), duration_s, tz (IANA name)"
    )
    bandwidth_bytes_per_min: int | None = Field(
        default=None, description="cap on package bytes sent per minute across the rollout"
    )
    start_at: float | str | None = Field(
        default=None, description="scheduled start: UNIX seconds or ISO 8601 with a UTC offset"
    )


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = ""


def _status(s: Session, row: Rollout) -> dict[str, Any]:
    out = rollout_summary(row, load_state(s, row.id))
    counts = {
        st: k
        for st, k in s.execute(
            select(Assignment.status, func.count())
            .where(Assignment.rollout_id == row.id)
            .group_by(Assignment.status)
        )
    }
    out["assignments"] = counts
    return out


@router.post("/rollouts", response_model=RolloutOut, status_code=201)
def create(body: RolloutIn, rt: RT, caller: Operator) -> dict[str, Any]:
    """Create a staged rollout (validated now; the scheduler starts it on its next round)."""
    name = body.name or f"{body.model}-{body.version}"[:64]
    try:
        with rt.db.session() as s:
            if body.target.get("group") is not None and body.target.get("selector"):
                raise HTTPException(
                    422, "invalid target: give a group or a selector, not both (they could disagree)"
                )
            try:  # referential check now, so a rollout the scheduler could never step is refused
                targeted = resolve_target(s, body.target)
            except UsageError as exc:
                raise HTTPException(422, f"invalid target: {exc}") from None
            if not targeted:  # it would soak forever with nothing to watch
                what = (
                    f"group {body.target['group']!r}"
                    if body.target.get("group") is not None
                    else "selector " + ", ".join(f"{k}={v}" for k, v in body.target["selector"].items())
                )
                raise HTTPException(422, f"invalid target: {what} matches no enrolled device")
            controls = body.model_dump(include={"retry", "window", "bandwidth_bytes_per_min", "start_at"})
            row, _ = create_rollout(
                s,
                name,
                body.model,
                body.version,
                body.target,
                body.stages,
                body.health,
                caller.name,
                controls={k: v for k, v in controls.items() if v is not None},
            )
            out = _status(s, row)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    rt.bus.publish("rollout", {"id": out["id"], "status": out["status"]})
    return out


@router.get("/rollouts", response_model=list[RolloutOut])
def list_rollouts(s: DB, _: Viewer, active: bool = False) -> list[dict[str, Any]]:
    q = select(Rollout).order_by(Rollout.id.desc())
    if active:
        q = q.where(Rollout.status.in_(sorted(ACTIVE)))
    rows = list(s.scalars(q))
    return [_status(s, r) for r in rows]


def _get(s: Session, rollout_id: int) -> Rollout:
    row = s.get(Rollout, rollout_id)
    if row is None:
        raise HTTPException(404, f"no rollout {rollout_id}")
    return row


@router.get("/rollouts/{rollout_id}", response_model=RolloutDetailOut)
def status(rollout_id: int, s: DB, _: Viewer) -> dict[str, Any]:
    """State, stage, device counts per status, skipped devices (with reasons), the spec."""
    row = _get(s, rollout_id)
    return {**_status(s, row), "spec": row.spec}


@router.get("/rollouts/{rollout_id}/events", response_model=list[RolloutEventOut])
def events(
    rollout_id: int, s: DB, _: Viewer, after: int = 0, limit: Annotated[int, Query(le=10000)] = 1000
) -> list[dict[str, Any]]:
    """The append-only event log (audit trail), oldest first; ``after`` pages by sequence number."""
    _get(s, rollout_id)
    rows = s.scalars(
        select(RolloutEvent)
        .where(RolloutEvent.rollout_id == rollout_id, RolloutEvent.seq > after)
        .order_by(RolloutEvent.seq)
        .limit(limit)
    )
    return [r.data for r in rows]


@router.get("/rollouts/{rollout_id}/devices", response_model=list[RolloutDeviceOut])
def devices(rollout_id: int, s: DB, _: Viewer) -> list[dict[str, Any]]:
    """Every device the rollout touched: stage, status, deployment id, previous version."""
    _get(s, rollout_id)
    rows = s.scalars(select(Assignment).where(Assignment.rollout_id == rollout_id).order_by(Assignment.id))
    return [
        {
            "device_id": a.device_id,
            "stage": a.stage,
            "status": a.status,
            "deployment_id": a.deployment_id,
            "previous": a.previous,
            "assigned_at": a.assigned_at,
            "updated_at": a.updated_at,
        }
        for a in rows
    ]


def _command(
    rollout_id: int, cmd: Command, body: CommandIn | None, rt: Runtime, caller: Caller
) -> dict[str, Any]:
    try:
        run_command(
            rt.db, rollout_id, cmd, caller.name, rt.settings.http_url, reason=(body.reason if body else "")
        )
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except UsageError as exc:
        raise HTTPException(409, str(exc)) from None
    rt.bus.publish("rollout", {"id": rollout_id, "command": cmd.value})
    if rt.outbox is not None:
        rt.outbox.kick.set()
    with rt.db.session() as s:
        return _status(s, _get(s, rollout_id))


@router.post("/rollouts/{rollout_id}/pause", response_model=RolloutOut)
def pause(rollout_id: int, rt: RT, caller: Operator, body: CommandIn | None = None) -> dict[str, Any]:
    return _command(rollout_id, Command.PAUSE, body, rt, caller)


@router.post("/rollouts/{rollout_id}/resume", response_model=RolloutOut)
def resume(rollout_id: int, rt: RT, caller: Operator, body: CommandIn | None = None) -> dict[str, Any]:
    return _command(rollout_id, Command.RESUME, body, rt, caller)


@router.post("/rollouts/{rollout_id}/promote", response_model=RolloutOut)
def promote(rollout_id: int, rt: RT, caller: Operator, body: CommandIn | None = None) -> dict[str, Any]:
    """Start the next stage now (also over a manual-approval stop or an ML health hold)."""
    return _command(rollout_id, Command.PROMOTE, body, rt, caller)


@router.post("/rollouts/{rollout_id}/abort", response_model=RolloutOut)
def abort(rollout_id: int, rt: RT, caller: Operator, body: CommandIn | None = None) -> dict[str, Any]:
    """Stop and send every touched device back to its previous version."""
    return _command(rollout_id, Command.ABORT, body, rt, caller)
