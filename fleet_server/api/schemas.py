"""Request and response bodies of the REST API (they make the OpenAPI document at ``/docs``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from tinyfleet.manifest import Manifest
from tinyfleet.rollout_status import RolloutStatus
from tinyfleet.server.db import Device, ModelRow
from tinyfleet.server.rollout.events import DeviceStatus, EventKind
from tinyfleet.server.rollout.machine import Trigger
from tinyfleet.states import DeviceKind, EventType, UpdateState
from tinyfleet.wire import SlotInfo

_REF = "#/components/schemas/{name}"  # where OpenAPI keeps named schemas

__all__ = [
    "MANIFEST_RESPONSE",
    "Credentials",
    "DeviceEventOut",
    "DeviceIn",
    "DeviceOut",
    "DevicesIn",
    "DriftDeviceOut",
    "DriftOut",
    "EnrollIn",
    "EnrollmentTokenIn",
    "EnrollmentTokenOut",
    "GroupIn",
    "GroupOut",
    "HealthOut",
    "ModelOut",
    "RolloutDetailOut",
    "RolloutDeviceOut",
    "RolloutEventOut",
    "RolloutOut",
    "TokenIn",
    "TokenOut",
    "add_contract_schemas",
    "device_out",
    "model_out",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceIn(_In):
    id: str = Field(description="device id: 1-63 of a-z, 0-9, '_', '-'; also its MQTT username")
    board: str = Field(description="a board of the catalogue (tinyfleet/boards.toml)")
    tags: dict[str, str] = {}


class DevicesIn(_In):
    devices: list[DeviceIn] = Field(max_length=100_000)


class EnrollIn(_In):
    token: str
    id: str
    board: str


class EnrollmentTokenIn(_In):
    tags: dict[str, str] = {}
    uses: int = 1
    ttl_s: float = 86400.0


class MqttInfo(BaseModel):
    host: str
    port: int
    tls: bool
    username: str
    topic_prefix: str


class Credentials(BaseModel):
    device_id: str
    secret: str = Field(description="shown once; the MQTT password and the HTTP Basic password for artifacts")
    mqtt: MqttInfo
    http_url: str
    online_key: str | None = Field(
        None,
        description="the server's online public key (64 hex): a device given it acts only on desired "
        "states signed for it (docs/security.md)",
    )


class DroppedOut(BaseModel):
    """Messages of this device the wire contract refused (counted by the server process answering)."""

    count: int
    reason: str  # of the last one: malformed, oversized or spoofed
    channel: str
    field: str  # the offending field of the last one ("slots[0].state"); "" for the whole message
    at: float


class DeviceOut(BaseModel):
    id: str
    board: str
    kind: DeviceKind | None
    tags: dict[str, Any]
    firmware: str
    model: dict[str, Any] | None
    slots: Annotated[
        list[dict[str, Any]],
        WithJsonSchema({"type": "array", "items": {"$ref": _REF.format(name="SlotInfo")}}),
    ] = Field(description="the slots as the device last reported them (wire SlotInfo)")
    runtimes: list[Any]
    update: UpdateState
    deployment_id: str | None
    online: bool
    last_seen: float | None
    enrolled_at: float
    desired: dict[str, Any] | None
    rollout_id: int | None
    dropped: DroppedOut | None = None  # device detail only


def device_out(d: Device, dropped: DroppedOut | None = None) -> DeviceOut:
    model = None
    if d.model_version:
        model = {
            "name": d.model_name,
            "version": d.model_version,
            "sha256": d.model_sha256,
            "security_counter": d.security_counter,
        }
    return DeviceOut(
        id=d.id,
        board=d.board,
        kind=d.kind,
        tags=d.tags or {},
        firmware=d.firmware,
        model=model,
        slots=d.slots or [],
        runtimes=d.runtimes or [],
        update=d.update_state,
        deployment_id=d.deployment_id,
        online=d.online,
        last_seen=d.last_seen,
        enrolled_at=d.enrolled_at,
        desired=d.desired,
        rollout_id=d.rollout_id,
        dropped=dropped,
    )


class GroupIn(_In):
    name: str
    devices: list[str] | None = None
    selector: dict[str, str] | None = None


class GroupOut(BaseModel):
    name: str
    selector: dict[str, str] | None
    devices: list[str]


class ModelOut(BaseModel):
    id: int
    name: str
    version: str
    security_counter: int
    sha256: str
    size: int
    key_id: str
    boards: list[Any]
    uploaded_at: float
    uploaded_by: str
    download_url: str
    mlflow_run_id: str | None = Field(default=None, description="MLflow run that built it (manifest)")
    mlflow_experiment_id: str | None = None
    mlflow_url: str | None = Field(default=None, description="the run in the MLflow UI (--mlflow-url)")


def _mlflow_fields(manifest: dict[str, Any] | None, mlflow_url: str) -> dict[str, Any]:
    t = (manifest or {}).get("tracking")
    if not isinstance(t, dict) or not isinstance(t.get("mlflow_run_id"), str):
        return {}
    run, exp = t["mlflow_run_id"], str(t.get("mlflow_experiment_id", ""))
    url = f"{mlflow_url.rstrip('/')}/#/experiments/{exp}/runs/{run}" if mlflow_url and exp else None
    return {"mlflow_run_id": run, "mlflow_experiment_id": exp or None, "mlflow_url": url}


def model_out(m: ModelRow, http_url: str, mlflow_url: str = "") -> ModelOut:
    return ModelOut(
        id=m.id,
        name=m.name,
        version=m.version,
        security_counter=m.security_counter,
        sha256=m.sha256,
        size=m.size,
        key_id=m.key_id,
        boards=m.boards,
        uploaded_at=m.uploaded_at,
        uploaded_by=m.uploaded_by,
        download_url=f"{http_url}/api/v1/artifacts/{m.sha256}",
        **_mlflow_fields(m.manifest, mlflow_url),
    )


class TokenIn(_In):
    name: str
    role: Literal["admin", "operator", "viewer"]


class TokenOut(BaseModel):
    id: int
    name: str
    role: str
    created_at: float
    revoked: bool
    token: str | None = Field(default=None, description="only in the answer that created it")


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    mqtt_connected: bool
    broker: Literal["builtin", "external"]
    broker_running: bool
    broker_port: int


class EnrollmentTokenOut(BaseModel):
    token: str = Field(description="shown once")
    uses: int
    ttl_s: float
    tags: dict[str, str]


class DeviceEventOut(BaseModel):
    deployment_id: str
    type: EventType
    detail: str
    progress: float | None
    ts: float
    received_at: float


class RolloutOut(BaseModel):
    """A rollout's summary (docs/rollouts.md): the engine's ``summary`` plus the row's identity."""

    id: int
    name: str
    target: dict[str, Any] = Field(description='{"group": NAME} or {"selector": {TAG: VALUE}}')
    created_at: float
    created_by: str
    rollout_id: str
    status: RolloutStatus
    stage: int = Field(description="index of the current stage; -1 before the start")
    stage_name: str | None
    stages: int
    devices: dict[DeviceStatus, int] = Field(description="touched devices per status")
    touched: int
    skipped: dict[str, list[str]] = Field(description="device -> why it was not assigned")
    rollback_refused: list[str]
    error: str
    reason: str
    package: str
    updated_at: float
    assignments: dict[str, int] = Field(description="assignment rows per status")


class RolloutDetailOut(RolloutOut):
    spec: dict[str, Any] = Field(description="stages, gates and thresholds as created")


class RolloutEventOut(BaseModel):
    """One entry of a rollout's append-only event log (``Event`` of ``rollout/events.py``)."""

    seq: int
    at: float
    kind: EventKind
    rollout_id: str
    spec: dict[str, Any] | None
    trigger: Trigger | None
    source: RolloutStatus | None
    target: RolloutStatus | None
    stage: int | None
    devices: list[str]
    previous: list[dict[str, Any] | None]
    failed: list[str]
    skipped: dict[str, list[str]]
    verdicts: list[dict[str, Any]]
    reason: str
    by: str


class RolloutDeviceOut(BaseModel):
    device_id: str
    stage: int
    status: DeviceStatus
    deployment_id: str
    previous: dict[str, Any] | None = Field(description="the model it ran before (None: none)")
    assigned_at: float
    updated_at: float


class DriftScores(BaseModel):
    # extra keys are an error (500 in tests), so a field added to the drift report must be declared here
    model_config = ConfigDict(extra="forbid")

    output: float | None = Field(description="drift of the class histogram (None: no baseline or no data)")
    confidence: float | None
    input: float | None
    alert: bool
    alert_reason: str
    alert_evidence: dict[str, Any] | None


class DriftDeviceOut(DriftScores):
    device_id: str
    n: int


class DriftOut(DriftScores):
    model: str = Field(description="NAME@VERSION")
    name: str
    version: str
    has_baseline: bool
    devices: int = Field(description="devices running this version")
    reporting: int = Field(description="devices with telemetry in the window")
    n: int
    error_rate: float | None
    mean_confidence: float | None
    latency_p95_us: float | None
    per_device: list[DriftDeviceOut]


# ---- schemas generated from the contract's msgspec types (not restated as pydantic models) ----
CONTRACT_TYPES: list[type[msgspec.Struct]] = [Manifest, SlotInfo]
MANIFEST_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the package's manifest.json (docs/model-package.md)",
        "content": {"application/json": {"schema": {"$ref": _REF.format(name="Manifest")}}},
    }
}


def add_contract_schemas(app: FastAPI) -> None:
    """Put the JSON Schema of the contract types the routes answer with (the package manifest, a
    device's slots) into the app's OpenAPI components, generated from the msgspec types themselves."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            _, components = msgspec.json.schema_components(CONTRACT_TYPES, ref_template=_REF)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
