"""Drift of the fleet against package baselines: per model version (fleet cohort) and per device,
with alerts (hysteresis) kept in the database so every server process sees the same alert state.

The math is :mod:`tinyfleet.server.drift` (windows, cohort scores, alert rule); this module only loads
telemetry and stores alert states.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinyfleet.drift import PSI_MODERATE, PSI_SIGNIFICANT
from tinyfleet.errors import TinyfleetError
from tinyfleet.server.db import Device, DriftState, ModelRow, TelemetryRow
from tinyfleet.server.drift.alerts import AlertRule, AlertState, update
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.cohort import drift_scores
from tinyfleet.server.drift.window import merge, merge_windows

__all__ = ["DEFAULT_RULE", "drift_report", "evaluate_alerts"]

# PSI: raise above "significant", clear below "moderate" (industry thresholds; tinyfleet.drift)
DEFAULT_RULE = AlertRule(high=PSI_SIGNIFICANT, low=PSI_MODERATE, min_samples=100)
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


def _alert_state(s: Session, key: str) -> AlertState:
    row = s.get(DriftState, key)
    return AlertState(**row.state) if row is not None else AlertState()


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
        key = f"model:{m.name}@{m.version}:{metric}"
        per_device = sorted(
            (
                {
                    "device_id": d,
                    "n": w.n,
                    **_scores(w, baseline, metric),
                    "alert": _alert_state(s, f"device:{d}:{m.name}@{m.version}:{metric}").active,
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
                "alert": _alert_state(s, key).active,
                "per_device": per_device,
            }
        )
    return out


def evaluate_alerts(
    s: Session,
    now: float | None = None,
    rule: AlertRule = DEFAULT_RULE,
    metric: str = "psi",
    window_s: float = 3600.0,
) -> list[dict[str, Any]]:
    """Fold the current readings into the stored alert states; returns the alerts raised or cleared."""
    at = time.time() if now is None else now
    changes = []
    for model in drift_report(s, at, metric, window_s):
        subjects: Iterable[tuple[str, float | None, int]] = [
            (f"model:{model['model']}:{metric}", model[SIGNAL], model["n"]),
            *(
                (f"device:{d['device_id']}:{model['model']}:{metric}", d[SIGNAL], d["n"])
                for d in model["per_device"]
            ),
        ]
        for key, value, n in subjects:
            row = s.get(DriftState, key)
            before = AlertState(**row.state) if row is not None else AlertState()
            after, event = update(rule, before, value, n, at)
            if event is None:
                continue
            state = {"active": after.active, "since": after.since, "value": after.value}
            if row is None:
                s.add(DriftState(key=key, state=state, updated_at=at))
            else:
                row.state, row.updated_at = state, at
            changes.append(
                {
                    "key": key,
                    "change": event.change.value,
                    "value": event.value,
                    "n": event.n,
                    "threshold": event.threshold,
                    "at": at,
                }
            )
    return changes
