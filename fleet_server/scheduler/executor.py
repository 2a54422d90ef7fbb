"""Write an engine :class:`Decision` to the database (inside the caller's transaction).

- events are appended (the unique (rollout, seq) key refuses a second writer of the same step);
- an assignment holds the device for the rollout with a compare-and-set on ``devices.rollout_id``
  (one active rollout per device), inserts an ``assignments`` row (unique per rollout and device:
  never assigned twice) and sets the device's desired state (published later by the outbox);
- a rollback sets the desired state to the previous version;
- a release frees the devices for other rollouts.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from fleet_server.db import Assignment, Device, ModelRow, Rollout, RolloutEvent
from fleet_server.rollout.codec import to_json
from fleet_server.rollout.engine import Decision
from fleet_server.rollout.events import RolloutState
from fleet_server.rollout.model import VersionRef
from tinyfleet import wire

__all__ = ["ConflictError", "apply_decision", "desired_for"]


class ConflictError(RuntimeError):
    """Another rollout or process got there first; the transaction is rolled back and retried."""


def _model_row(s: Session, ref: VersionRef) -> ModelRow | None:
    q = select(ModelRow).where(ModelRow.name == ref.name, ModelRow.version == ref.version)
    if ref.sha256:
        q = select(ModelRow).where(ModelRow.sha256 == ref.sha256)
    return s.scalar(q)


def desired_for(s: Session, ref: VersionRef | None, deployment_id: str, rollout_id: str, http_url: str,
                now: float) -> dict[str, Any]:
    model = None
    if ref is not None:
        row = _model_row(s, ref)
        if row is None:
            raise ConflictError(f"model {ref.key} is not in the registry")
        model = wire.DesiredModel(name=row.name, version=row.version, sha256=row.sha256, size=row.size,
                                  security_counter=row.security_counter, url=f"{http_url}/api/v1/artifacts/{row.sha256}")
    msg = wire.DesiredState(deployment_id=deployment_id, rollout_id=rollout_id, model=model, issued_at=now)
    return msg.model_dump(mode="json", by_alias=True, exclude_none=True)


def _deployment_id(rollout_id: int) -> str:
    return f"r{rollout_id}-{uuid.uuid4().hex[:16]}"


def _set_desired(s: Session, rollout_id: int, device_id: str, desired: dict[str, Any], *, hold: bool) -> None:
    values: dict[str, Any] = {"desired": desired, "desired_rev": Device.desired_rev + 1}
    q = update(Device).where(Device.id == device_id)
    if hold:
        values["rollout_id"] = rollout_id
        q = q.where(or_(Device.rollout_id.is_(None), Device.rollout_id == rollout_id))
    if s.execute(q.values(**values)).rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(f"device {device_id} is held by another rollout (or gone)")


def apply_decision(s: Session, row: Rollout, before: RolloutState, decision: Decision, http_url: str) -> None:
    now = time.time()
    for ev in decision.events:
        s.add(RolloutEvent(rollout_id=row.id, seq=ev.seq, ts=ev.at, kind=ev.kind.value, data=ev.to_json()))
    s.flush()
    rid = str(row.id)
    for a in decision.assign:
        dep = _deployment_id(row.id)
        _set_desired(s, row.id, a.device_id, desired_for(s, a.version, dep, rid, http_url, now), hold=True)
        s.add(Assignment(rollout_id=row.id, device_id=a.device_id, stage=a.stage, deployment_id=dep,
                         previous=to_json(a.previous), status="assigned", assigned_at=now, updated_at=now))
    s.flush()
    for r in decision.rollback:
        dep = _deployment_id(row.id)
        _set_desired(s, row.id, r.device_id, desired_for(s, r.version, dep, rid, http_url, now), hold=False)
        s.execute(update(Assignment).where(Assignment.rollout_id == row.id, Assignment.device_id == r.device_id)
                  .values(deployment_id=dep, updated_at=now))
    changed = {d: rec.status.value for d, rec in decision.state.devices.items()
               if d not in before.devices or before.devices[d].status is not rec.status}
    for device_id, status in changed.items():
        s.execute(update(Assignment).where(Assignment.rollout_id == row.id, Assignment.device_id == device_id)
                  .values(status=status, updated_at=now))
    if decision.release:
        ids = list(decision.release)
        for i in range(0, len(ids), 5000):
            s.execute(update(Device).where(Device.id.in_(ids[i:i + 5000]), Device.rollout_id == row.id).values(rollout_id=None))
    if decision.events:
        row.status = decision.state.status.value
        row.engine_state = _state_json(decision.state)
        row.updated_at = now
        row.revision += 1


def _state_json(state: RolloutState) -> str:
    return json.dumps(state.to_json(), separators=(",", ":"))
