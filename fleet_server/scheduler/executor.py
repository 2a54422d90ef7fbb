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
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from tinyfleet import wire
from tinyfleet.server.db import Assignment, Device, ModelRow, Rollout, RolloutEvent
from tinyfleet.server.rollout.codec import to_json
from tinyfleet.server.rollout.engine import Decision, summary
from tinyfleet.server.rollout.events import RolloutState
from tinyfleet.server.rollout.model import VersionRef

__all__ = ["ConflictError", "apply_decision", "desired_for"]


class ConflictError(RuntimeError):
    """Another rollout or process got there first; the transaction is rolled back and retried."""


def _model_row(s: Session, ref: VersionRef, cache: dict[VersionRef, ModelRow]) -> ModelRow:
    row = cache.get(ref)
    if row is None:
        q = select(ModelRow).where(ModelRow.name == ref.name, ModelRow.version == ref.version)
        if ref.sha256:
            q = select(ModelRow).where(ModelRow.sha256 == ref.sha256)
        row = s.scalar(q)
        if row is None:
            raise ConflictError(f"model {ref.key} is not in the registry")
        cache[ref] = row
    return row


def desired_for(
    s: Session,
    ref: VersionRef | None,
    deployment_id: str,
    rollout_id: str,
    http_url: str,
    now: float,
    cache: dict[VersionRef, ModelRow] | None = None,
) -> dict[str, Any]:
    """The wire ``DesiredState`` (as JSON values) that sends ``ref`` (None: no model named)."""
    model = None
    if ref is not None:
        row = _model_row(s, ref, {} if cache is None else cache)
        model = wire.DesiredModel(
            name=row.name,
            version=row.version,
            sha256=row.sha256,
            size=row.size,
            security_counter=row.security_counter,
            url=f"{http_url}/api/v1/artifacts/{row.sha256}",
        )
    msg = wire.DesiredState(deployment_id=deployment_id, rollout_id=rollout_id, model=model, issued_at=now)
    return wire.to_dict(msg)


def _deployment_id(rollout_id: int) -> str:
    return f"r{rollout_id}-{uuid.uuid4().hex[:16]}"


_DEV = cast(Table, Device.__table__)
_ASG = cast(Table, Assignment.__table__)
_HOLD = (
    update(_DEV)
    .where(
        _DEV.c.id == bindparam("d"), or_(_DEV.c.rollout_id.is_(None), _DEV.c.rollout_id == bindparam("rid"))
    )
    .values(
        rollout_id=bindparam("rid"),
        desired=bindparam("desired"),
        desired_rev=_DEV.c.desired_rev + 1,
        changed_at=bindparam("now"),  # a hold is a change every rollout's snapshot must see
    )
)
_SEND = (
    update(_DEV)
    .where(_DEV.c.id == bindparam("d"))
    .values(desired=bindparam("desired"), desired_rev=_DEV.c.desired_rev + 1)
)
_ASG_DEPLOYMENT = (
    update(_ASG)
    .where(_ASG.c.rollout_id == bindparam("rid"), _ASG.c.device_id == bindparam("d"))
    .values(deployment_id=bindparam("dep"), updated_at=bindparam("now"))
)
_ASG_STATUS = (
    update(_ASG)
    .where(_ASG.c.rollout_id == bindparam("rid"), _ASG.c.device_id == bindparam("d"))
    .values(status=bindparam("status"), updated_at=bindparam("now"))
)


def _templates(
    s: Session, refs: Any, rid: str, http_url: str, now: float, cache: dict[VersionRef, ModelRow]
) -> dict[VersionRef | None, dict[str, Any]]:
    """One desired-state document per version; devices get a copy with their own deployment id."""
    return {ref: desired_for(s, ref, "x", rid, http_url, now, cache) for ref in set(refs)}


def _hold(s: Session, rollout_id: int, rows: list[dict[str, Any]]) -> None:
    """Compare-and-set: each device must be free or already held by this rollout."""
    if not rows:
        return
    res = s.execute(_HOLD, rows)
    held = res.rowcount  # type: ignore[attr-defined]
    if held < 0:  # the driver did not count: check
        ids = [r["d"] for r in rows]
        held = sum(
            len(
                s.scalars(
                    select(Device.id).where(Device.id.in_(ids[i : i + 5000]), Device.rollout_id == rollout_id)
                ).all()
            )
            for i in range(0, len(ids), 5000)
        )
    if held != len(rows):
        raise ConflictError(f"{len(rows) - held} device(s) are held by another rollout (or gone)")


def apply_decision(s: Session, row: Rollout, before: RolloutState, decision: Decision, http_url: str) -> None:
    now = time.time()
    for ev in decision.events:
        s.add(RolloutEvent(rollout_id=row.id, seq=ev.seq, ts=ev.at, kind=ev.kind.value, data=ev.to_json()))
    s.flush()
    rid = str(row.id)
    cache: dict[VersionRef, ModelRow] = {}
    if decision.assign:
        tpl = _templates(s, (a.version for a in decision.assign), rid, http_url, now, cache)
        holds, inserts = [], []
        for a in decision.assign:
            dep = _deployment_id(row.id)
            holds.append(
                {
                    "d": a.device_id,
                    "rid": row.id,
                    "now": now,
                    "desired": {**tpl[a.version], "deployment_id": dep},
                }
            )
            inserts.append(
                {
                    "rollout_id": row.id,
                    "device_id": a.device_id,
                    "stage": a.stage,
                    "deployment_id": dep,
                    "previous": to_json(a.previous),
                    "status": "assigned",
                    "assigned_at": now,
                    "updated_at": now,
                }
            )
        _hold(s, row.id, holds)
        s.execute(insert(_ASG), inserts)
    if decision.retry:  # the devices stay held by this rollout: a new deployment of the same package
        tpl = _templates(s, (a.version for a in decision.retry), rid, http_url, now, cache)
        sends, deps = [], []
        for a in decision.retry:
            dep = _deployment_id(row.id)
            sends.append({"d": a.device_id, "desired": {**tpl[a.version], "deployment_id": dep}})
            deps.append({"rid": row.id, "d": a.device_id, "dep": dep, "now": now})
        s.execute(_SEND, sends)
        s.execute(_ASG_DEPLOYMENT, deps)
    if decision.rollback:
        tpl = _templates(s, (r.version for r in decision.rollback), rid, http_url, now, cache)
        sends, deps = [], []
        for r in decision.rollback:
            dep = _deployment_id(row.id)
            sends.append({"d": r.device_id, "desired": {**tpl[r.version], "deployment_id": dep}})
            deps.append({"rid": row.id, "d": r.device_id, "dep": dep, "now": now})
        s.execute(_SEND, sends)
        s.execute(_ASG_DEPLOYMENT, deps)
    moved = {d for ev in decision.events for d in (*ev.devices, *ev.failed)}  # only events change devices
    changed = [
        {"rid": row.id, "d": d, "status": rec.status.value, "now": now}
        for d in sorted(moved)
        if (rec := decision.state.devices.get(d)) is not None
        and d in before.devices
        and before.devices[d].status is not rec.status
    ]
    if changed:
        s.execute(_ASG_STATUS, changed)
    if decision.release:
        ids = list(decision.release)
        for i in range(0, len(ids), 5000):
            s.execute(
                update(Device)
                .where(Device.id.in_(ids[i : i + 5000]), Device.rollout_id == row.id)
                .values(rollout_id=None, changed_at=now)
            )
    if decision.events:
        row.status = decision.state.status
        row.engine_state = _state_json(decision.state)
        row.updated_at = now
        row.revision += 1


def _state_json(state: RolloutState) -> str:
    """A small summary for listings; the event log stays the truth (``handler.load_state`` replays it)."""
    return json.dumps(summary(state), separators=(",", ":"))
