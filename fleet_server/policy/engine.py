"""The continuous-training loop a policy runs (docs/mlops.md, "Policies"): drift alert → capture →
labels → retrain (local worker or webhook) → challenger published → canary rollout with gates.

One loop iteration is a ``PolicyRun``; every step appends a ``PolicyEvent`` (the audit trail, shown on
the dashboard as one timeline per iteration). :func:`tick` advances every run by at most one step and
starts a run for a policy whose model has an active drift alert; it is called by the server's policy
thread every few seconds and may be called directly (tests, ``POST /api/v1/policies/tick``).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinyfleet.rollout_status import TERMINAL, RolloutStatus
from tinyfleet.server.capture.service import (
    CaptureError,
    RequestSpec,
    capture_enabled_devices,
    close_request,
    create_request,
)
from tinyfleet.server.db import Device, DriftState, ModelRow
from tinyfleet.server.db.models import (
    CaptureRequest,
    DatasetRow,
    Policy,
    PolicyEvent,
    PolicyRun,
    Rollout,
)
from tinyfleet.server.policy import webhook
from tinyfleet.server.registry import PublishError, publish_package
from tinyfleet.server.registry.store import ArtifactStore

__all__ = ["ACTIVE", "Env", "record", "start_run", "tick"]

log = logging.getLogger(__name__)

ACTIVE = ("capturing", "labelling", "retraining", "rolling_out")
_workers: dict[int, subprocess.Popen[bytes]] = {}  # run id → local retrain worker (this process)
_lock = threading.Lock()
_tick_lock = threading.Lock()


class Env:
    """What the engine needs from the server: database session, artifact store, keys, folders."""

    def __init__(
        self, store: ArtifactStore, trusted_keys: Mapping[str, bytes], work_dir: Path, http_url: str
    ) -> None:
        self.store, self.trusted_keys, self.work_dir, self.http_url = store, trusted_keys, work_dir, http_url


def record(s: Session, run: PolicyRun, kind: str, data: Mapping[str, Any], now: float | None = None) -> None:
    """One audit event of a loop iteration."""
    at = time.time() if now is None else now
    s.add(PolicyEvent(run_id=run.id, ts=at, kind=kind, data=dict(data)))
    run.updated_at = at
    s.flush()


def _champion(s: Session, model: str, devices: list[str] | None = None) -> ModelRow | None:
    """The running version: the one most of ``devices`` report (ties: the higher), else the highest
    published version (a version that was rolled back is not the champion while devices run another)."""
    from collections import Counter

    from tinyfleet.device_manifest import parse_semver

    rows = {r.version: r for r in s.scalars(select(ModelRow).where(ModelRow.name == model))}
    if not rows:
        return None
    if devices:
        running = Counter(
            v
            for v in s.scalars(
                select(Device.model_version).where(Device.id.in_(devices), Device.model_name == model)
            )
            if v in rows
        )
        if running:
            top = max(running.values())
            return max(
                (rows[v] for v, k in running.items() if k == top), key=lambda r: parse_semver(r.version)
            )
    return max(rows.values(), key=lambda r: parse_semver(r.version))


def alerting_devices(s: Session, model: str) -> list[str]:
    """Devices with an active drift alert on some version of ``model`` (``device:ID:MODEL@VERSION``)."""
    out = []
    for row in s.scalars(select(DriftState).where(DriftState.key.like("device:%"))):
        _, dev, subject = row.key.split(":", 2)
        if subject.split("@", 1)[0] == model and (row.state or {}).get("active"):
            out.append(dev)
    return sorted(set(out))


def start_run(
    s: Session, policy: Policy, devices: list[str], reason: str, by: str, now: float | None = None
) -> PolicyRun:
    """A new loop iteration: asks ``devices`` (those with capture enabled) for samples."""
    at = time.time() if now is None else now
    champ = _champion(s, policy.model, devices)
    if champ is None:
        raise CaptureError(404, f"policy {policy.name}: no model {policy.model} in the registry")
    run = PolicyRun(
        policy=policy.name,
        status="capturing",
        data={"champion": f"{champ.name}@{champ.version}", "reason": reason},
        started_at=at,
        updated_at=at,
    )
    s.add(run)
    s.flush()
    record(
        s,
        run,
        "alert",
        {"reason": reason, "devices": devices, "by": by, "champion": run.data["champion"]},
        at,
    )
    enabled = sorted(capture_enabled_devices(s, devices))
    if not enabled:
        _fail(s, run, "capture is off for every alerting device (enable capture for their group)", at)
        return run
    cap = policy.config.get("capture", {})
    req = create_request(
        s,
        RequestSpec(
            model=champ.name,
            version=champ.version,
            devices=enabled,
            trigger=str(cap.get("trigger", "drift")),
            count=int(cap.get("count", 50)),
            ttl_s=float(cap.get("ttl_s", 900.0)),
        ),
        f"policy:{policy.name}",
        at,
    )
    run.data = {**run.data, "capture_request": req.id}
    record(
        s,
        run,
        "capture_requested",
        {"request": req.id, "devices": enabled, "count": req.count, "trigger": req.trigger},
        at,
    )
    return run


def _fail(s: Session, run: PolicyRun, why: str, now: float) -> None:
    run.status = "failed"
    record(s, run, "failed", {"reason": why}, now)


def _step_capturing(s: Session, env: Env, policy: Policy, run: PolicyRun, now: float) -> None:
    req = s.get(CaptureRequest, int(run.data["capture_request"]))
    assert req is not None
    complete = req.samples_received >= req.count * len(req.devices)
    if not complete and now < req.expires_at:
        return
    if req.samples_received == 0:
        _fail(s, run, f"capture request {req.id} expired without samples", now)
        return
    ds = close_request(s, env.store, req.id, f"policy:{policy.name}")
    run.data = {**run.data, "dataset": ds.version}
    run.status = "labelling"
    record(
        s,
        run,
        "dataset_created",
        {"version": ds.version, "samples": ds.samples, "labelled": ds.labelled},
        now,
    )


def _step_labelling(s: Session, env: Env, policy: Policy, run: PolicyRun, now: float) -> None:
    version = str(run.data["dataset"])
    ds = s.get(DatasetRow, version)
    assert ds is not None
    trust_devices = policy.config.get("labels") == "devices"
    if not trust_devices or ds.labelled < ds.samples:  # wait for an import of it with every label
        child = s.scalar(
            select(DatasetRow)
            .where(DatasetRow.parent == version, DatasetRow.labelled == DatasetRow.samples)
            .order_by(DatasetRow.created_at.desc())
        )
        if child is None:
            return
        ds = child
    run.data = {**run.data, "labelled_dataset": ds.version}
    run.status = "retraining"
    record(s, run, "labelled", {"version": ds.version, "samples": ds.samples}, now)
    _start_retrain(s, env, policy, run, now)


def _next_release(s: Session, model: str) -> tuple[str, int]:
    """The challenger's version (next minor above every published one) and the highest counter so
    far (the server refuses a lower one)."""
    from tinyfleet.device_manifest import parse_semver

    rows = list(s.scalars(select(ModelRow).where(ModelRow.name == model)))
    major, minor, _ = max(parse_semver(r.version) for r in rows)
    return f"{major}.{minor + 1}.0", max(int(r.security_counter) for r in rows)


def _start_retrain(s: Session, env: Env, policy: Policy, run: PolicyRun, now: float) -> None:
    rt = policy.config.get("retrain", {})
    name, _, version = str(run.data["champion"]).partition("@")
    champ = s.scalar(select(ModelRow).where(ModelRow.name == name, ModelRow.version == version))
    if champ is None:
        _fail(s, run, f"the champion {run.data['champion']} is no longer in the registry", now)
        return
    if rt.get("mode", "local") == "webhook":
        payload = {
            "run": run.id,
            "policy": policy.name,
            "champion": {"name": champ.name, "version": champ.version, "sha256": champ.sha256},
            "champion_url": f"{env.http_url}/api/v1/artifacts/{champ.sha256}",
            "dataset": run.data["labelled_dataset"],
            "dataset_url": f"{env.http_url}/api/v1/datasets/{run.data['labelled_dataset']}/data",
            "callback_url": f"{env.http_url}/api/v1/policies/runs/{run.id}/result",
            "margin": float(rt.get("margin", 0.01)),
        }
        status = webhook.send(str(rt["url"]), str(rt["secret"]), payload)
        record(s, run, "retrain_requested", {"mode": "webhook", "url": rt["url"], "status": status}, now)
        return
    version, counter = _next_release(s, policy.model)
    folder = env.work_dir / f"run-{run.id}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.npz").write_bytes(env.store.get(str(run.data["labelled_dataset"])))
    (folder / "champion.tfpkg").write_bytes(env.store.get(champ.sha256))
    args = [
        sys.executable,
        "-m",
        "tinyfleet.cli.main",
        "model",
        "retrain",
        str(policy.config["spec"]),
        "--add-data",
        str(folder / "dataset.npz"),
        "--champion",
        str(folder / "champion.tfpkg"),
        "--out",
        str(folder / "out"),
        "--margin",
        str(float(rt.get("margin", 0.01))),
        "--version",
        version,
        "--security-counter",
        str(counter),
        "--json",
    ]
    if rt.get("mlflow") is not None:
        args += ["--mlflow", str(rt["mlflow"])] if rt["mlflow"] else ["--mlflow"]
    log_file = open(folder / "worker.log", "wb")  # noqa: SIM115 - the worker owns it
    proc = subprocess.Popen(
        args, stdout=log_file, stderr=subprocess.STDOUT, cwd=folder, env=os.environ.copy()
    )
    log_file.close()
    with _lock:
        _workers[run.id] = proc
    run.data = {**run.data, "worker_dir": str(folder)}
    record(s, run, "retrain_started", {"mode": "local", "pid": proc.pid}, now)


def accept_challenger(
    s: Session,
    env: Env,
    policy: Policy,
    run: PolicyRun,
    package: bytes,
    report: Mapping[str, Any] | None,
    now: float,
) -> None:
    """A retrained package (local worker or webhook callback): publish it, then start the canary."""
    try:
        row = publish_package(s, env.store, package, env.trusted_keys, uploaded_by=f"policy:{policy.name}")
    except PublishError as exc:
        _fail(s, run, f"challenger not published: {exc}", now)
        return
    info: dict[str, Any] = {"version": row.version, "sha256": row.sha256}
    tracking = (row.manifest or {}).get("tracking") or {}
    if tracking.get("mlflow_run_id"):
        info["mlflow_run_id"] = tracking["mlflow_run_id"]
    if report:
        info["verdict"] = dict(report.get("verdict", {}))
    info["lineage"] = (row.manifest or {}).get("lineage") or []
    run.data = {
        **run.data,
        "challenger": f"{row.name}@{row.version}",
        **{k: info[k] for k in ("mlflow_run_id",) if k in info},
    }
    record(s, run, "challenger_published", info, now)
    _start_rollout(s, policy, run, row, now)


def _start_rollout(s: Session, policy: Policy, run: PolicyRun, row: ModelRow, now: float) -> None:
    from tinyfleet.server.scheduler.handler import create_rollout

    ro = policy.config.get("rollout", {})
    approval = bool(ro.get("approval", False))
    stages = ro.get("stages") or [
        {"name": "canary", "percent": 10, "success_share": 1.0, "soak_s": 0},
        {"name": "all", "percent": 100, "manual_approval": approval},
    ]
    try:
        rollout, _ = create_rollout(
            s,
            f"{row.name}-{row.version}-loop{run.id}"[:64],
            row.name,
            row.version,
            {"group": policy.config["group"]},
            list(stages),
            ro.get("health"),
            f"policy:{policy.name}",
        )
    except Exception as exc:  # the rollout spec's own validation (UsageError, NotFound)  # noqa: BLE001
        _fail(s, run, f"rollout not created: {exc}", now)
        return
    run.status = "rolling_out"
    run.data = {**run.data, "rollout": rollout.id}
    record(
        s,
        run,
        "rollout_created",
        {"rollout": rollout.id, "stages": [st.get("name") for st in stages], "approval": approval},
        now,
    )


def _step_retraining(s: Session, env: Env, policy: Policy, run: PolicyRun, now: float) -> None:
    if policy.config.get("retrain", {}).get("mode", "local") == "webhook":
        return  # the callback moves it on
    with _lock:
        proc = _workers.get(run.id)
    if proc is None:
        _fail(s, run, "the retrain worker was lost (server restarted)", now)
        return
    code = proc.poll()
    if code is None:
        return
    with _lock:
        _workers.pop(run.id, None)
    folder = Path(str(run.data["worker_dir"]))
    text = (folder / "worker.log").read_text("utf-8", "replace")
    last = text.strip().splitlines()[-1] if text.strip() else ""
    if code == 4:
        run.status = "done"
        record(s, run, "challenger_refused", {"reason": last.removeprefix("error: ")}, now)
        return
    if code != 0:
        _fail(s, run, f"retrain worker exited {code}: {last[:300]}", now)
        return
    report = json.loads(last)
    pkgs = sorted((folder / "out").glob("*.tfpkg"))
    if len(pkgs) != 1:
        _fail(s, run, "the retrain worker left no package", now)
        return
    accept_challenger(s, env, policy, run, pkgs[0].read_bytes(), report, now)


def _step_rolling_out(s: Session, env: Env, policy: Policy, run: PolicyRun, now: float) -> None:
    r = s.get(Rollout, int(run.data["rollout"]))
    if r is None:
        _fail(s, run, "the rollout was deleted", now)
        return
    status = RolloutStatus(r.status)
    if status in TERMINAL:
        run.status = "done" if status is RolloutStatus.SUCCEEDED else "failed"
        record(s, run, "rollout_finished", {"rollout": r.id, "status": status.value}, now)


_STEPS = {
    "capturing": _step_capturing,
    "labelling": _step_labelling,
    "retraining": _step_retraining,
    "rolling_out": _step_rolling_out,
}


def tick(s: Session, env: Env, now: float | None = None) -> int:
    """Advance every active run one step; start runs for policies with alerting devices. Returns
    the number of runs that changed. One round at a time in this process (the policy thread and
    ``POST /api/v1/policies/tick`` never step the same run twice); commits ``s``."""
    with _tick_lock:
        changed = _tick(s, env, now)
        s.commit()  # inside the lock: the next round reads what this one did
        return changed


def _tick(s: Session, env: Env, now: float | None) -> int:
    at = time.time() if now is None else now
    changed = 0
    for run in list(s.scalars(select(PolicyRun).where(PolicyRun.status.in_(ACTIVE)))):
        policy = s.get(Policy, run.policy)
        if policy is None:
            continue
        before = (run.status, run.updated_at)
        try:
            _STEPS[run.status](s, env, policy, run, at)
        except CaptureError as exc:
            _fail(s, run, str(exc), at)
        changed += (run.status, run.updated_at) != before
    for policy in list(s.scalars(select(Policy).where(Policy.enabled))):
        busy = s.scalar(
            select(PolicyRun.id).where(PolicyRun.policy == policy.name, PolicyRun.status.in_(ACTIVE))
        )
        if busy is not None:
            continue
        devices = alerting_devices(s, policy.model)
        if devices and _new_alert(s, policy, at):
            try:
                start_run(s, policy, devices, "drift alert", "policy", at)
            except CaptureError as exc:
                log.warning("policy %s: %s", policy.name, exc)
                continue
            changed += 1
    return changed


def _new_alert(s: Session, policy: Policy, now: float) -> bool:
    """An alert raised after the policy's last run started (one iteration per alert episode)."""
    last = s.scalar(
        select(PolicyRun.started_at)
        .where(PolicyRun.policy == policy.name)
        .order_by(PolicyRun.started_at.desc())
    )
    if last is None:
        return True
    for row in s.scalars(select(DriftState).where(DriftState.key.like("device:%"))):
        st = row.state or {}
        if (
            st.get("active")
            and float(st.get("since", 0.0)) > last
            and row.key.split(":", 2)[2].startswith(policy.model + "@")
        ):
            return True
    return False
