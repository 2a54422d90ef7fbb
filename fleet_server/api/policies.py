"""Policies: the continuous-training loop, its iterations and their audit timelines (docs/mlops.md)."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as FastPath
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from tinyfleet.capture import TRIGGERS
from tinyfleet.package import MAX_PACKAGE_BYTES
from tinyfleet.server.api.deps import DB, RT, Operator, Viewer
from tinyfleet.server.capture.service import CaptureError
from tinyfleet.server.db import Group
from tinyfleet.server.db.models import Policy, PolicyEvent, PolicyRun
from tinyfleet.server.policy import webhook
from tinyfleet.server.policy.engine import accept_challenger, start_run, tick
from tinyfleet.server.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["policies"])


class CaptureConf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(default=50, ge=1, le=10000)
    trigger: str = "drift"
    ttl_s: float = Field(default=900.0, ge=10, le=30 * 86400)


class RetrainConf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["local", "webhook"] = "local"
    url: str | None = Field(default=None, max_length=500)
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    margin: float = Field(default=0.01, ge=0.0, le=1.0)
    mlflow: str | None = Field(default=None, description='tracking URI for the local worker; "" = ./mlruns')


class RolloutConf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stages: list[dict[str, Any]] | None = None
    health: dict[str, Any] | None = None
    approval: bool = False


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(max_length=64)
    group: str = Field(max_length=64, description="devices to capture from and roll out to")
    spec: str | None = Field(default=None, description="the model's spec on the server (local worker)")
    labels: Literal["devices", "operator"] = "operator"
    capture: CaptureConf = CaptureConf()
    retrain: RetrainConf = RetrainConf()
    rollout: RolloutConf = RolloutConf()
    enabled: bool = True


class TriggerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    devices: list[str] = Field(min_length=1, max_length=10000)
    reason: str = Field(default="operator", max_length=200)


def _policy_out(p: Policy) -> dict[str, Any]:
    cfg = dict(p.config)
    if (cfg.get("retrain") or {}).get("secret"):
        cfg["retrain"] = {**cfg["retrain"], "secret": "***"}
    return {"name": p.name, "model": p.model, "enabled": p.enabled, "config": cfg, "created_by": p.created_by}


def _run_out(s: Any, r: PolicyRun, events: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "policy": r.policy,
        "status": r.status,
        "data": r.data,
        "started_at": r.started_at,
        "updated_at": r.updated_at,
    }
    if events:
        out["events"] = [
            {"ts": e.ts, "kind": e.kind, "data": e.data}
            for e in s.scalars(select(PolicyEvent).where(PolicyEvent.run_id == r.id).order_by(PolicyEvent.id))
        ]
    return out


@router.put("/policies/{name}")
def put_policy(name: str, body: PolicyIn, rt: RT, s: DB, caller: Operator) -> dict[str, Any]:
    """Create or replace a policy (stored with the rollout configuration it will use)."""
    if not 1 <= len(name) <= 64 or not all(c.isalnum() or c in "._-" for c in name):
        raise HTTPException(422, "policy name: 1..64 letters, digits, '.', '_' or '-'")
    if s.get(Group, body.group) is None:
        raise HTTPException(422, f"no group named {body.group!r}")
    if body.capture.trigger not in TRIGGERS:
        raise HTTPException(422, f"capture.trigger must be one of {', '.join(TRIGGERS)}")
    if body.retrain.mode == "webhook" and (not body.retrain.url or not body.retrain.secret):
        raise HTTPException(422, "a webhook retrain needs url and secret (16+ characters)")
    if body.retrain.mode == "local" and not body.spec:
        raise HTTPException(422, "the local retrain worker needs the model's spec (spec)")
    row = s.get(Policy, name) or Policy(name=name, created_at=time.time(), created_by=caller.name)
    row.model, row.enabled = body.model, body.enabled
    row.config = body.model_dump(exclude={"model", "enabled"})
    s.add(row)
    s.flush()
    return _policy_out(row)


@router.get("/policies")
def list_policies(s: DB, _: Viewer) -> list[dict[str, Any]]:
    return [_policy_out(p) for p in s.scalars(select(Policy).order_by(Policy.name))]


@router.post("/policies/{name}/trigger", status_code=201)
def trigger(name: str, body: TriggerIn, rt: RT, s: DB, caller: Operator) -> dict[str, Any]:
    """Start a loop iteration now for these devices (as a drift alert would)."""
    p = s.get(Policy, name)
    if p is None:
        raise HTTPException(404, f"no policy {name}")
    try:
        run = start_run(s, p, sorted(set(body.devices)), body.reason, caller.name)
    except CaptureError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    rt.bus.publish("policy", {"run": run.id, "status": run.status})
    return _run_out(s, run, events=True)


def _env(rt: Runtime) -> Any:
    from tinyfleet.server.policy.engine import Env

    return Env(rt.store, rt.trusted_keys, rt.settings.data_dir / "policy", rt.settings.http_url)


@router.post("/policies/tick")
def tick_now(rt: RT, s: DB, _: Operator) -> dict[str, Any]:
    """Advance every loop iteration one step now (the server also does this every few seconds)."""
    return {"changed": tick(s, _env(rt))}


@router.get("/policies/runs")
def list_runs(s: DB, _: Viewer, policy: str | None = None) -> list[dict[str, Any]]:
    q = select(PolicyRun).order_by(PolicyRun.id.desc())
    if policy:
        q = q.where(PolicyRun.policy == policy)
    return [_run_out(s, r) for r in s.scalars(q)]


@router.get("/policies/runs/{run_id}")
def get_run(run_id: int, s: DB, _: Viewer) -> dict[str, Any]:
    """One iteration with its timeline (every step an audit event)."""
    r = s.get(PolicyRun, run_id)
    if r is None:
        raise HTTPException(404, f"no policy run {run_id}")
    return _run_out(s, r, events=True)


@router.post(
    "/policies/runs/{run_id}/result",
    openapi_extra={
        "requestBody": {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "required": True,
        }
    },
)
async def result(
    run_id: Annotated[int, FastPath(ge=1, le=2**63 - 1)], request: Request, rt: RT
) -> dict[str, Any]:  # bounded: a larger id overflowed SQLite's INTEGER (HTTP 500; tests/hostile)
    """The external orchestrator's answer: the signed challenger package as the body, the webhook
    signature (HMAC of the policy's secret) in the headers. A bad signature changes nothing (401)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PACKAGE_BYTES:
            raise HTTPException(413, "package too large")
    with rt.db.session() as s:
        run = s.get(PolicyRun, run_id)
        policy = s.get(Policy, run.policy) if run is not None else None
        secret = ((policy.config.get("retrain") or {}).get("secret") if policy else None) or ""
        if run is None or policy is None or not secret:
            raise HTTPException(404, f"no policy run {run_id} waiting for a webhook result")
        try:
            webhook.verify(secret, dict(request.headers), bytes(body))
        except webhook.SignatureError as exc:
            raise HTTPException(401, str(exc)) from None
        if run.status != "retraining":
            raise HTTPException(409, f"policy run {run_id} is {run.status}, not waiting for a challenger")
        accept_challenger(s, _env(rt), policy, run, bytes(body), None, time.time())
        out = _run_out(s, run, events=True)
    rt.bus.publish("policy", {"run": run_id, "status": out["status"]})
    return out
