"""What the dashboard's drift, telemetry and audit pages show, put together from the server's own functions.

Pure functions over rows already loaded (no I/O): telemetry merges are ``drift.window.merge``, scores
are ``drift.cohort.drift_scores`` against ``drift.baseline.Baseline``; only the choice of time
buckets for a chart is made here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.cohort import Signal, drift_scores
from tinyfleet.server.drift.window import Window, merge, merge_windows

__all__ = ["Report", "audit_entry", "drift_view", "telemetry_points"]


@dataclass(frozen=True)
class Report:
    """One telemetry row in the shape ``drift.window`` reads (``TelemetryLike``)."""

    device_id: str
    ts: float
    model: str
    n: int
    err: int
    lat_p95_us: float
    input_hist: Sequence[Sequence[int]]
    cls: Sequence[int]
    conf: Sequence[int]


def _window_of(reports: Sequence[Report], start: float, end: float, version: str) -> Window:
    by_device: dict[str, list[Report]] = {}
    for r in reports:
        by_device.setdefault(r.device_id, []).append(r)
    return merge_windows(merge(rs, start, end, version) for rs in by_device.values())


def _hist(w: Window) -> dict[str, Any]:
    return {"n": w.n, "cls": list(w.cls), "conf": list(w.conf), "input": [list(g) for g in w.input_hist]}


def drift_view(
    baseline: Baseline,
    reports: Sequence[Report],
    version: str,
    start: float,
    end: float,
    buckets: int,
    metric: str,
    signal: Signal,
) -> dict[str, Any]:
    """Score over time (one merged window per time bucket) and the live window's histograms next to
    the baseline's. Current scores and alerts are the server's (``GET /api/v1/drift``)."""
    width = (end - start) / buckets
    series: list[list[float]] = []
    for i in range(buckets):
        b0, b1 = start + i * width, start + (i + 1) * width
        w = _window_of(reports, b0, b1, version)
        if not w.reports:
            continue
        score = drift_scores(w, baseline, metric).get(signal)
        if score is not None:
            series.append([b1, score])
    live = _window_of(reports, start, end, version)
    return {
        "metric": metric,
        "signal": signal.value,
        "start": start,
        "end": end,
        "buckets": buckets,
        "series": series,
        "baseline": {
            "n": baseline.n,
            "cls": list(baseline.cls),
            "conf": list(baseline.conf),
            "input": [list(g) for g in baseline.input_hist],
        },
        "live": _hist(live),
    }


def telemetry_points(reports: Iterable[Any]) -> list[dict[str, Any]]:
    """Telemetry rows as chart points (time order)."""
    out = [
        {
            "ts": r.ts,
            "period_s": r.period_s,
            "model": r.model_version,
            "n": r.n,
            "err": r.err,
            "lat_p50_us": r.lat_p50_us,
            "lat_p95_us": r.lat_p95_us,
            "conf": r.conf,
            "cls": r.cls,
        }
        for r in reports
    ]
    return sorted(out, key=lambda p: p["ts"])


def audit_entry(row: Any, rollout_name: str | None, created_by: str = "") -> dict[str, Any]:
    """One rollout event (the append-only audit trail) for the audit table: empty fields left out,
    the spec of a ``created`` event shortened to what was rolled out where; the actor is the operator
    who caused it (``by``; for ``created``, the rollout's creator) or else the scheduler."""
    data = {
        k: v
        for k, v in (row.data or {}).items()
        if v not in (None, "", [], {}) and k not in ("seq", "at", "rollout_id", "kind")
    }
    spec = data.pop("spec", None)
    if isinstance(spec, dict):
        pkg = spec.get("package") or {}
        data["package"] = f"{pkg.get('name')}@{pkg.get('version')}"
        data["target"] = {k: v for k, v in (spec.get("target") or {}).items() if v is not None}
        data["stages"] = [s.get("name") for s in spec.get("stages") or []]
    for key in ("devices", "failed"):
        if isinstance(data.get(key), list) and len(data[key]) > 8:
            data[key] = f"{len(data[key])} devices"
    data.pop("previous", None)
    verdicts = data.pop("verdicts", None)
    if verdicts:
        data["gates"] = ", ".join(f"{v.get('gate')}={v.get('outcome')}" for v in verdicts)
    return {
        "id": row.id,
        "rollout_id": row.rollout_id,
        "rollout": rollout_name,
        "seq": row.seq,
        "ts": row.ts,
        "kind": row.kind,
        "actor": data.pop("by", None) or (created_by if row.kind == "created" else "") or "scheduler",
        "data": data,
    }
