"""Drift scores and alerts."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tinyfleet.drift import Metric
from tinyfleet.server.api.deps import DB, Viewer
from tinyfleet.server.api.schemas import DriftOut
from tinyfleet.server.drift_report import drift_report

router = APIRouter(prefix="/api/v1", tags=["drift"])


@router.get("/drift", response_model=list[DriftOut])
def drift(
    s: DB,
    _: Viewer,
    name: str | None = None,
    version: str | None = None,
    metric: Annotated[Metric, Query()] = "psi",
    window_s: Annotated[float, Query(gt=0, le=30 * 86400)] = 3600.0,
) -> list[dict[str, Any]]:
    """Per model version that devices run (or the one named): drift of the fleet's merged telemetry
    window against the package baseline for the output, confidence and input histograms, health
    figures, per-device scores (highest output drift first) and alert flags with their reason and
    evidence (decided on evidence every drift_interval: docs/drift.md)."""
    return drift_report(s, time.time(), metric, window_s, name, version)
