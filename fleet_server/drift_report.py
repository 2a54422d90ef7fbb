"""Drift of the fleet against package baselines: per model version (fleet cohort) and per device,
with alerts kept in the database so every server process sees the same alert state.

The math is :mod:`tinyfleet.server.drift` (windows, cohort scores, the evidence-based detector of
``drift.detect``); this module only loads telemetry and stores alert states with their evidence.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinyfleet.errors import TinyfleetError
from tinyfleet.server.db import Device, DriftState, ModelRow, TelemetryRow
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.cohort import drift_scores
from tinyfleet.server.drift.detect import DEFAULT_DETECTOR, DetectorConfig, Subject, decide
from tinyfleet.server.drift.window import merge, merge_windows

__all__ = ["drift_report", "evaluate_alerts"]

SIGNAL = "output"


def _versions(s: Session, name: str | None, version: str | None) -> list[ModelRow]:
    q = select(ModelRow).order_by(ModelRow.name, ModelRow.major, ModelRow.minor, ModelRow.patch)
    if name:
        q = q.where(ModelRow.name == name)
    if version:
        q = q.where(ModelRow.version == version)
    return list(s.scalars(q))


def _scores(window: Any, baseline: Baseline | None, metric: str) -> dict[str, float | None]:
    if baseline is None or not window.reports:
        return {"output": None, "confidence": None, "input": None}
    return asdict(drift_scores(window, baseline, metric))


def _alert_state(s: Session, key: str) -> dict[str, Any]:
    """The stored state of an alert subject: active, since, reason, evidence (older rows: fewer keys)."""
    row = s.get(DriftState, key)
    st = dict(row.state) if row is not None and isinstance(row.state, dict) else {}
    return {
        "active": bool(st.get("active", False)),
        "since": st.get("since"),
        "reason": st.get("reason", ""),
        "evidence": st.get("evidence"),
    }


def drift_report(
    s: Session,
    now: float,
    metric: str = "psi",
    window_s: float = 3600.0,
    name: str | None = None,
    version: str | None = None,
    include_idle: bool = False,
) -> list[dict[str, Any]]:
    out = []
    start = now - window_s
    for m in _versions(s, name, version):
        devices = list(
            s.scalars(select(Device.id).where(Device.model_name == m.name, Device.model_version == m.version))
        )
        if not devices and not include_idle and not version:
            continue
        try:
            baseline = (
                Baseline.from_manifest(m.manifest["drift_baseline"])
                if "drift_baseline" in m.manifest
                else None
            )
        except TinyfleetError:
            baseline = None
        reports: dict[str, list[TelemetryRow]] = {}
        for i in range(0, len(devices), 5000):
            chunk = devices[i : i + 5000]
            for t in s.scalars(
                select(TelemetryRow).where(
                    TelemetryRow.device_id.in_(chunk),
                    TelemetryRow.ts >= start,
                    TelemetryRow.model_version == m.version,
                )
            ):
                reports.setdefault(t.device_id, []).append(t)
        windows = {d: merge(rs, start, now + 1.0, m.version) for d, rs in reports.items()}
        fleet = merge_windows(windows.values()) if windows else merge([], start, now, m.version)
        key = f"model:{m.name}@{m.version}"
        per_device = sorted(
            (
                {
                    "device_id": d,
                    "n": w.n,
                    **_scores(w, baseline, metric),
                    **_alert_fields(_alert_state(s, f"device:{d}:{m.name}@{m.version}")),
                }
                for d, w in windows.items()
            ),
            key=lambda r: -float(r[SIGNAL] or 0.0),
        )
        out.append(
            {
                "model": f"{m.name}@{m.version}",
                "name": m.name,
                "version": m.version,
                "has_baseline": baseline is not None,
                "devices": len(devices),
                "reporting": len(windows),
                "n": fleet.n,
                "error_rate": fleet.error_rate,
                "mean_confidence": fleet.mean_confidence,
                "latency_p95_us": fleet.lat_p95_us,
                **_scores(fleet, baseline, metric),
                **_alert_fields(_alert_state(s, key)),
                "per_device": per_device,
            }
        )
    return out


def _alert_fields(st: dict[str, Any]) -> dict[str, Any]:
    return {"alert": st["active"], "alert_reason": st["reason"], "alert_evidence": st["evidence"]}


def _subjects(s: Session, now: float, cfg: DetectorConfig) -> list[Subject]:
    start = now - cfg.window_s
    out: list[Subject] = []
    for m in _versions(s, None, None):
        if "drift_baseline" not in m.manifest:
            continue
        try:
            baseline = Baseline.from_manifest(m.manifest["drift_baseline"])
        except TinyfleetError:
            continue
        devices = list(
            s.scalars(select(Device.id).where(Device.model_name == m.name, Device.model_version == m.version))
        )
        reports: dict[str, list[TelemetryRow]] = {}
        for i in range(0, len(devices), 5000):
            for t in s.scalars(
                select(TelemetryRow).where(
                    TelemetryRow.device_id.in_(devices[i : i + 5000]),
                    TelemetryRow.ts >= start,
                    TelemetryRow.model_version == m.version,
                )
            ):
                reports.setdefault(t.device_id, []).append(t)
        model_key = f"model:{m.name}@{m.version}"
        everything = [r for rs in reports.values() for r in rs]
        for key, rs in [(model_key, everything)] + [
            (f"device:{d}:{m.name}@{m.version}", rs) for d, rs in sorted(reports.items())
        ]:
            st = _alert_state(s, key)
            out.append(Subject(key, rs, baseline, st["active"], st["since"]))
    return out


def evaluate_alerts(
    s: Session, now: float | None = None, cfg: DetectorConfig = DEFAULT_DETECTOR
) -> list[dict[str, Any]]:
    """One look of the drift detector over every model version and device; stores the alert states
    that changed (with their evidence) and returns those changes."""
    at = time.time() if now is None else now
    changes = []
    for d in decide(_subjects(s, at, cfg), at, cfg):
        if not d.changed:
            continue
        ev = d.evidence.to_json() if d.evidence is not None else None
        state = {"active": d.active, "since": at, "reason": d.reason, "evidence": ev}
        row = s.get(DriftState, d.key)
        if row is None:
            s.add(DriftState(key=d.key, state=state, updated_at=at))
        else:
            row.state, row.updated_at = state, at
        changes.append(
            {
                "key": d.key,
                "change": "raised" if d.active else "cleared",
                "value": d.evidence.psi_excess if d.evidence is not None else None,
                "n": d.evidence.n if d.evidence is not None else 0,
                "threshold": cfg.min_effect if d.active else cfg.clear_effect,
                "reason": d.reason,
                "evidence": ev,
                "at": at,
            }
        )
    return changes
