"""Model registry: publish a signed package, list models, download artifacts (with Range)."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send

from tinyfleet.package import MAX_PACKAGE_BYTES
from tinyfleet.server.api.deps import DB, RT, DeviceOrToken, Operator, Viewer
from tinyfleet.server.api.schemas import MANIFEST_RESPONSE, ModelOut, model_out
from tinyfleet.server.db import Assignment, Device, ModelRow
from tinyfleet.server.metrics import ARTIFACT_BYTES, ARTIFACT_REQUESTS
from tinyfleet.server.registry import PublishError, publish_package

router = APIRouter(prefix="/api/v1", tags=["models"])


class _CountedFileResponse(FileResponse):
    """A file response that adds the body bytes it actually sent (whole file or Range) to
    ``tinyfleet_artifact_bytes_total``, also when the client hangs up midway."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = 0

        async def counting(message: Message) -> None:
            nonlocal sent
            if message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await super().__call__(scope, receive, counting)
        finally:
            ARTIFACT_BYTES.inc(sent)


VERIFY_CONCURRENCY = 2  # package verifications running at once, per server process


def _verify_limiter(request: Request) -> anyio.CapacityLimiter:
    """One limiter per app, made in its event loop on first use."""
    limiter = getattr(request.app.state, "verify_limiter", None)
    if limiter is None:
        limiter = request.app.state.verify_limiter = anyio.CapacityLimiter(VERIFY_CONCURRENCY)
    return limiter


@router.post(
    "/models",
    response_model=ModelOut,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "required": True,
        }
    },
)
async def publish(request: Request, rt: RT, caller: Operator) -> ModelOut:
    """Upload a signed model package (the raw ``.tfpkg`` bytes as the request body).

    Refused: 422 for a tampered, unsigned or untrusted package; 409 for a version already registered
    or a security counter below the model's highest; 413 for a body over the size limit.
    """
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PACKAGE_BYTES:
            raise HTTPException(413, f"package larger than {MAX_PACKAGE_BYTES} bytes")

    def verify_and_store() -> ModelOut:
        with rt.db.session() as s:
            row = publish_package(s, rt.store, bytes(body), rt.trusted_keys, uploaded_by=caller.name)
            return model_out(row, rt.settings.http_url, rt.settings.mlflow_url)

    # verification hashes up to MAX_PACKAGE_BYTES: in a worker thread, so other requests go on,
    # and at most VERIFY_CONCURRENCY at once (CPU and memory stay bounded under an upload flood)
    try:
        out = await anyio.to_thread.run_sync(verify_and_store, limiter=_verify_limiter(request))
    except PublishError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    rt.bus.publish("model", {"name": out.name, "version": out.version})
    return out


@router.get("/models", response_model=list[ModelOut])
def list_models(rt: RT, s: DB, _: Viewer, name: str | None = None) -> list[ModelOut]:
    q = select(ModelRow).order_by(ModelRow.name, ModelRow.major, ModelRow.minor, ModelRow.patch)
    if name:
        q = q.where(ModelRow.name == name)
    return [model_out(m, rt.settings.http_url, rt.settings.mlflow_url) for m in s.scalars(q)]


@router.get("/models/{name}/{version}", response_model=ModelOut)
def get_model(name: str, version: str, rt: RT, s: DB, _: Viewer) -> ModelOut:
    m = s.scalar(select(ModelRow).where(ModelRow.name == name, ModelRow.version == version))
    if m is None:
        raise HTTPException(404, f"no model {name} {version}")
    return model_out(m, rt.settings.http_url, rt.settings.mlflow_url)


@router.get("/models/{name}/{version}/manifest", response_model=None, responses=MANIFEST_RESPONSE)
def get_manifest(name: str, version: str, s: DB, _: Viewer) -> dict[str, Any]:
    m = s.scalar(select(ModelRow).where(ModelRow.name == name, ModelRow.version == version))
    if m is None:
        raise HTTPException(404, f"no model {name} {version}")
    return m.manifest


def device_may_fetch(s: Session, device_id: str, sha256: str) -> bool:
    """A device may download what it is told to install and what a rollout may send it back to."""
    dev = s.get(Device, device_id)
    if dev is None:
        return False
    desired_model = (dev.desired or {}).get("model") or {}
    if desired_model.get("sha256") == sha256 or dev.model_sha256 == sha256:
        return True
    prev = s.scalars(select(Assignment.previous).where(Assignment.device_id == device_id)).all()
    return any((p or {}).get("sha256") == sha256 for p in prev)


@router.get(
    "/artifacts/{sha256}",
    response_class=FileResponse,
    responses={
        206: {"description": "partial content (Range)"},
        416: {"description": "range not satisfiable"},
    },
)
def download(sha256: str, rt: RT, caller: DeviceOrToken) -> FileResponse:
    """A package by its sha256. Devices authenticate with HTTP Basic (device id, secret) and may fetch
    only the package their desired state names (or their rollback target); API tokens may fetch any.
    Supports ``Range: bytes=...`` for resumed downloads."""
    with rt.db.session() as s:
        known = s.scalar(select(ModelRow.id).where(or_(ModelRow.sha256 == sha256)))
        allowed = caller.device_id is None or device_may_fetch(s, caller.device_id, sha256)
    if not known or not rt.store.has(sha256):
        ARTIFACT_REQUESTS.labels("not_found").inc()
        raise HTTPException(404, "no such artifact")
    if not allowed:
        ARTIFACT_REQUESTS.labels("forbidden").inc()
        raise HTTPException(403, f"device {caller.device_id} is not assigned this artifact")
    ARTIFACT_REQUESTS.labels("served").inc()
    return _CountedFileResponse(
        rt.store.path(sha256),
        media_type="application/octet-stream",
        headers={"ETag": f'"{sha256}"', "Cache-Control": "private, immutable"},
    )
