"""Capture from the fleet and dataset versions (docs/mlops.md): operators ask, devices upload."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as FastPath
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from tinyfleet.server.api.deps import DB, RT, DeviceOrToken, Operator, Viewer
from tinyfleet.server.capture.service import (
    MAX_DEVICE_BYTES,
    CaptureError,
    RequestSpec,
    accept_upload,
    close_request,
    create_request,
    import_dataset,
    pending_for,
    request_out,
    set_group_capture,
)
from tinyfleet.server.db.models import CaptureGroup, CaptureRequest, DatasetRow

router = APIRouter(prefix="/api/v1", tags=["capture"])

MAX_IMPORT_BYTES = 256 * 1024 * 1024


class CaptureGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


class CaptureRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(max_length=64)
    version: str | None = Field(default=None, max_length=32)
    devices: list[str] | None = Field(default=None, max_length=10000)
    group: str | None = Field(default=None, max_length=64)
    trigger: str = "random"
    count: int = 50
    confidence_below: float | None = None
    per_device_bytes: int | None = Field(default=None, ge=1)
    total_bytes: int | None = Field(default=None, ge=1)
    ttl_s: float = 3600.0


def _fail(exc: CaptureError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


def _dataset_out(d: DatasetRow) -> dict[str, Any]:
    return {
        "version": d.version,
        "model": d.model,
        "samples": d.samples,
        "labelled": d.labelled,
        "bytes": d.bytes,
        "source": d.source,
        "parent": d.parent,
        "created_at": d.created_at,
        "created_by": d.created_by,
    }


@router.put("/capture/groups/{group}")
def set_group(group: str, body: CaptureGroupIn, s: DB, caller: Operator) -> dict[str, Any]:
    """Allow (or stop) capture for the members of a group. Capture is off for every device by default."""
    try:
        row = set_group_capture(s, group, body.enabled, caller.name)
    except CaptureError as exc:
        raise _fail(exc) from None
    return {"group": row.group_name, "enabled": row.enabled}


@router.get("/capture/groups")
def list_groups(s: DB, _: Viewer) -> list[dict[str, Any]]:
    return [{"group": g.group_name, "enabled": g.enabled} for g in s.scalars(select(CaptureGroup))]


@router.post("/capture/requests", status_code=201)
def new_request(body: CaptureRequestIn, rt: RT, s: DB, caller: Operator) -> dict[str, Any]:
    """Ask devices for samples. Refused: 403 capture off for a device, 404 unknown model/devices,
    413 beyond the byte budgets, 422 other bad values."""
    try:
        row = create_request(s, RequestSpec(**body.model_dump()), caller.name)
    except CaptureError as exc:
        raise _fail(exc) from None
    out = request_out(s, row)
    rt.bus.publish("capture", {"id": row.id, "status": row.status})
    return out


@router.get("/capture/requests")
def list_requests(s: DB, _: Viewer) -> list[dict[str, Any]]:
    return [request_out(s, r) for r in s.scalars(select(CaptureRequest).order_by(CaptureRequest.id.desc()))]


@router.get("/capture/requests/{request_id}")
def get_request(request_id: int, s: DB, _: Viewer) -> dict[str, Any]:
    r = s.get(CaptureRequest, request_id)
    if r is None:
        raise HTTPException(404, f"no capture request {request_id}")
    return request_out(s, r)


@router.post("/capture/requests/{request_id}/close")
def close(request_id: int, rt: RT, s: DB, caller: Operator) -> dict[str, Any]:
    """Close the request; its samples become one content-addressed dataset version."""
    try:
        row = close_request(s, rt.store, request_id, caller.name)
    except CaptureError as exc:
        raise _fail(exc) from None
    rt.bus.publish("capture", {"id": request_id, "status": "closed", "dataset": row.version})
    return _dataset_out(row)


@router.get("/capture/pending")
def pending(s: DB, caller: DeviceOrToken) -> list[dict[str, Any]]:
    """The capture requests this device should serve now (devices only; HTTP Basic)."""
    if caller.device_id is None:
        raise HTTPException(403, "only a device asks what it should capture")
    return pending_for(s, caller.device_id)


@router.post(
    "/capture/requests/{request_id}/samples",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "required": True,
        }
    },
)
async def upload(
    request_id: Annotated[int, FastPath(ge=1, le=2**63 - 1)], request: Request, rt: RT, caller: DeviceOrToken
) -> dict[str, Any]:
    """One batch of samples (format in docs/mlops.md) from the device itself, within its budget."""
    if caller.device_id is None:
        raise HTTPException(403, "samples are uploaded by the device that captured them")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_DEVICE_BYTES:
            raise HTTPException(413, f"upload larger than {MAX_DEVICE_BYTES} bytes")
    try:
        with rt.db.session() as s:
            return accept_upload(s, rt.store, request_id, caller.device_id, bytes(body))
    except CaptureError as exc:
        raise _fail(exc) from None


@router.get("/datasets")
def list_datasets(s: DB, _: Viewer) -> list[dict[str, Any]]:
    return [_dataset_out(d) for d in s.scalars(select(DatasetRow).order_by(DatasetRow.created_at.desc()))]


@router.get("/datasets/{version}")
def get_dataset(version: str, s: DB, _: Viewer) -> dict[str, Any]:
    d = s.get(DatasetRow, version)
    if d is None:
        raise HTTPException(404, f"unknown dataset version {version}")
    return _dataset_out(d)


@router.get("/datasets/{version}/data", response_class=Response)
def get_dataset_data(version: str, rt: RT, s: DB, _: Viewer) -> Response:
    """The dataset's canonical .npz (its sha256 is the version)."""
    if s.get(DatasetRow, version) is None or not rt.store.has(version):
        raise HTTPException(404, f"unknown dataset version {version}")
    return Response(rt.store.get(version), media_type="application/octet-stream")


@router.post("/datasets", status_code=201)
async def import_(request: Request, rt: RT, caller: Operator, parent: str | None = None) -> dict[str, Any]:
    """A dataset .npz (e.g. an exported version with labels filled in) as a new version."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_IMPORT_BYTES:
            raise HTTPException(413, f"dataset larger than {MAX_IMPORT_BYTES} bytes")
    try:
        with rt.db.session() as s:
            row = import_dataset(s, rt.store, bytes(body), parent, caller.name)
            return _dataset_out(row)
    except CaptureError as exc:
        raise _fail(exc) from None
