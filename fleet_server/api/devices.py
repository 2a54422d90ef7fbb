"""Devices, enrollment and groups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from tinyfleet.rollout_status import ACTIVE
from tinyfleet.server import devices as svc
from tinyfleet.server.api.deps import DB, RT, Admin, Operator, Viewer
from tinyfleet.server.api.schemas import (
    Credentials,
    DeviceEventOut,
    DeviceIn,
    DeviceOut,
    DevicesIn,
    DroppedOut,
    EnrollIn,
    EnrollmentTokenIn,
    EnrollmentTokenOut,
    GroupIn,
    GroupOut,
    MqttInfo,
    device_out,
)
from tinyfleet.server.db import Device, DeviceEventRow, Group, GroupMember, Rollout
from tinyfleet.server.runtime import Runtime
from tinyfleet.signing import public_key_raw
from tinyfleet.wire import TOPIC_PREFIX

router = APIRouter(prefix="/api/v1", tags=["devices"])


def _credentials(rt: Runtime, device_id: str, secret: str) -> Credentials:
    host, port, tls = rt.device_broker()
    mqtt = MqttInfo(
        host=host, port=port, tls=tls, username=device_id, topic_prefix=f"{TOPIC_PREFIX}/{device_id}"
    )
    return Credentials(
        device_id=device_id,
        secret=secret,
        mqtt=mqtt,
        http_url=rt.settings.http_url,
        online_key=public_key_raw(rt.online_key).hex(),
    )


def _after_enroll(rt: Runtime, device_id: str, secret: str) -> None:
    rt.ingest.add_device(device_id)
    rt.credentials_changed(added=[(device_id, secret)])
    rt.bus.publish("device", {"id": device_id, "enrolled": True})


@router.post("/devices", response_model=Credentials, status_code=201)
def add_device(body: DeviceIn, rt: RT, _: Operator) -> Credentials:
    """Enroll a device: returns its id and secret (the secret is shown only here)."""
    with rt.db.session() as s:
        try:
            dev, secret = svc.enroll(s, body.id, body.board, body.tags)
        except svc.DeviceConflict as exc:
            raise HTTPException(409, str(exc)) from None
    _after_enroll(rt, dev.id, secret)
    return _credentials(rt, dev.id, secret)


@router.post("/devices/bulk", response_model=list[Credentials], status_code=201)
def add_devices(body: DevicesIn, rt: RT, _: Operator) -> list[Credentials]:
    """Enroll many devices in one transaction (all or none) and one broker reload."""
    with rt.db.session() as s:
        try:
            made = svc.enroll_many(s, [(d.id, d.board, d.tags) for d in body.devices])
        except svc.DeviceConflict as exc:
            raise HTTPException(409, str(exc)) from None
        ids = [(dev.id, secret) for dev, secret in made]
    for device_id, _secret in ids:
        rt.ingest.add_device(device_id)
    rt.credentials_changed(added=ids)
    rt.bus.publish("device", {"enrolled": len(ids)})
    return [_credentials(rt, d, secret) for d, secret in ids]


@router.post("/enrollment-tokens", response_model=EnrollmentTokenOut, status_code=201)
def new_enrollment_token(body: EnrollmentTokenIn, s: DB, _: Operator) -> EnrollmentTokenOut:
    """A token a device (or its installer) trades for credentials at ``POST /api/v1/enroll``."""
    token = svc.create_enrollment_token(s, body.tags, body.uses, body.ttl_s)
    return EnrollmentTokenOut(token=token, uses=body.uses, ttl_s=body.ttl_s, tags=body.tags)


@router.post("/enroll", response_model=Credentials, status_code=201)
def enroll(body: EnrollIn, rt: RT) -> Credentials:
    """Self-enrollment with an enrollment token (no API token needed)."""
    with rt.db.session() as s:
        try:
            dev, secret = svc.enroll_with_token(s, body.token, body.id, body.board)
        except PermissionError as exc:
            raise HTTPException(403, str(exc)) from None
        except svc.DeviceConflict as exc:
            raise HTTPException(409, str(exc)) from None
    _after_enroll(rt, dev.id, secret)
    return _credentials(rt, dev.id, secret)


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(
    s: DB,
    _: Viewer,
    group: str | None = None,
    tag: Annotated[list[str] | None, Query()] = None,
    online: bool | None = None,
) -> list[DeviceOut]:
    """All devices; filter by group, by tags (``tag=key=value``, repeatable) or by online flag."""
    q = select(Device).order_by(Device.id)
    if online is not None:
        q = q.where(Device.online == online)
    devices = list(s.scalars(q))
    if group is not None:
        wanted = set(svc.resolve_target(s, {"group": group}))
        devices = [d for d in devices if d.id in wanted]
    if tag:
        selector = {k: (v if sep else "*") for k, sep, v in (t.partition("=") for t in tag)}
        devices = [d for d in devices if svc.matches(d.tags or {}, selector)]
    return [device_out(d) for d in devices]


@router.get("/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, rt: RT, s: DB, _: Viewer) -> DeviceOut:
    dev = s.get(Device, device_id)
    if dev is None:
        raise HTTPException(404, f"no device {device_id}")
    rec = rt.ingest.dropped_by_device.get(device_id)
    dropped = (
        DroppedOut(count=rec.count, reason=rec.reason, channel=rec.channel, field=rec.field, at=rec.at)
        if rec is not None
        else None
    )
    return device_out(dev, dropped)


@router.patch("/devices/{device_id}", response_model=DeviceOut)
def set_tags(device_id: str, tags: dict[str, str], rt: RT, _: Operator) -> DeviceOut:
    """Replace a device's tags."""
    with rt.db.session() as s:
        dev = s.get(Device, device_id)
        if dev is None:
            raise HTTPException(404, f"no device {device_id}")
        dev.tags = svc.validate_tags(tags)
        out = device_out(dev)
    rt.bus.publish("device", {"id": device_id})
    return out


@router.delete("/devices/{device_id}", status_code=204)
def remove_device(device_id: str, rt: RT, _: Admin) -> None:
    """Remove a device and revoke its credentials."""
    with rt.db.session() as s:
        dev = s.get(Device, device_id)
        if dev is None:
            raise HTTPException(404, f"no device {device_id}")
        if dev.rollout_id is not None:
            raise HTTPException(409, f"device {device_id} is in rollout {dev.rollout_id}; abort it first")
        s.delete(dev)
    rt.credentials_changed(removed=[device_id])


@router.get("/devices/{device_id}/events", response_model=list[DeviceEventOut])
def device_events(
    device_id: str, s: DB, _: Viewer, limit: Annotated[int, Query(le=1000)] = 100
) -> list[DeviceEventOut]:
    """The device's OTA events, newest first."""
    rows = s.scalars(
        select(DeviceEventRow)
        .where(DeviceEventRow.device_id == device_id)
        .order_by(DeviceEventRow.id.desc())
        .limit(limit)
    )
    return [
        DeviceEventOut(
            deployment_id=r.deployment_id,
            type=r.type,
            detail=r.detail,
            progress=r.progress,
            ts=r.ts,
            received_at=r.received_at,
        )
        for r in rows
    ]


@router.put("/groups/{name}", response_model=GroupOut)
def save_group(name: str, body: GroupIn, s: DB, _: Operator) -> GroupOut:
    """Create or replace a group: a static device list or a tag selector."""
    if body.name != name:
        raise HTTPException(422, "group name in the path and the body differ")
    g = svc.save_group(s, name, body.devices, body.selector)
    return GroupOut(name=g.name, selector=g.selector, devices=svc.resolve_target(s, {"group": name}))


@router.get("/groups", response_model=list[GroupOut])
def list_groups(s: DB, _: Viewer) -> list[GroupOut]:
    return [
        GroupOut(name=g.name, selector=g.selector, devices=svc.resolve_target(s, {"group": g.name}))
        for g in s.scalars(select(Group).order_by(Group.name))
    ]


@router.delete("/groups/{name}", status_code=204)
def delete_group(name: str, s: DB, _: Operator) -> None:
    g = s.get(Group, name)
    if g is None:
        raise HTTPException(404, f"no group {name}")
    users = [
        r.id
        for r in s.scalars(select(Rollout).where(Rollout.status.in_(sorted(ACTIVE))))
        if (r.target or {}).get("group") == name
    ]
    if users:
        raise HTTPException(
            409, f"group {name} is the target of active rollout(s) {', '.join(map(str, users))}"
        )
    s.query(GroupMember).filter(GroupMember.group_name == name).delete()
    s.delete(g)
