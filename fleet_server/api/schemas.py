"""Request and response bodies of the REST API (they make the OpenAPI document at ``/docs``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tinyfleet.server.db import Device, ModelRow

__all__ = [
    "Credentials",
    "DeviceIn",
    "DevicesIn",
    "DeviceOut",
    "EnrollIn",
    "EnrollmentTokenIn",
    "GroupIn",
    "GroupOut",
    "ModelOut",
    "TokenIn",
    "TokenOut",
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


class DeviceOut(BaseModel):
    id: str
    board: str
    kind: str | None
    tags: dict[str, Any]
    firmware: str
    model: dict[str, Any] | None
    slots: list[Any]
    runtimes: list[Any]
    update: str
    deployment_id: str | None
    online: bool
    last_seen: float | None
    enrolled_at: float
    desired: dict[str, Any] | None
    rollout_id: int | None


def device_out(d: Device) -> DeviceOut:
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
