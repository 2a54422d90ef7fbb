"""The server's drift alerts over a simulated day, on a real database (the code path the server runs
every drift_interval: drift_report.evaluate_alerts loads telemetry rows, decides, stores alert states):
a healthy fleet raises no alert all day; then 10 % of it drifts (input PSI 0.2) and exactly those
devices are alerted, with their evidence stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.drift.fleetsim import Truth
from tinyfleet.server.db import Database, Device, DriftState, ModelRow, TelemetryRow, migrate
from tinyfleet.server.drift.detect import DetectorConfig
from tinyfleet.server.drift_report import drift_report, evaluate_alerts

PERIOD = 600.0  # accelerated: one report and one look per 10 minutes
RATE = 30  # inferences per period (a low-rate device)
# low-rate devices need a longer scan than the default hour to gather a few hundred inferences
CFG = DetectorConfig(interval_s=PERIOD, window_s=6 * 3600.0)
DEVICES = [f"day-{i:02d}" for i in range(30)]
DRIFTING = set(DEVICES[:3])


def _setup(db: Database, truth: Truth) -> None:
    base = truth.baseline(2000)
    manifest = {
        "drift_baseline": {
            "n": base.n,
            "input": {"bins": 16, "groups": 1, "hist": [list(base.input_hist[0])]},
            "output_classes": {"counts": list(base.cls)},
            "confidence": {"bins": 16, "hist": list(base.conf)},
        }
    }
    with db.session() as s:
        s.add(
            ModelRow(
                name="m",
                version="1.0.0",
                major=1,
                minor=0,
                patch=0,
                security_counter=1,
                sha256="a" * 64,
                size=1,
                key_id="k",
                boards=["rpi4"],
                manifest=manifest,
                uploaded_at=0.0,
            )
        )
        for d in DEVICES:
            s.add(
                Device(
                    id=d,
                    board="rpi4",
                    secret_hash="h",
                    enrolled_at=0.0,
                    model_name="m",
                    model_version="1.0.0",
                )
            )


def _report(db: Database, truth: Truth, t: float, drifting: set[str]) -> None:
    with db.session() as s:
        for d in DEVICES:
            r = truth.report(t, RATE, 0.2 if d in drifting else 0.0)
            s.add(
                TelemetryRow(
                    device_id=d,
                    ts=t,
                    period_s=PERIOD,
                    model_version="1.0.0",
                    n=r.n,
                    err=0,
                    lat_p50_us=0.0,
                    lat_p95_us=0.0,
                    input_hist=r.input_hist,
                    cls=r.cls,
                    conf=r.conf,
                    received_at=t,
                )
            )


def _look(db: Database, t: float) -> list[dict]:
    with db.session() as s:
        return evaluate_alerts(s, now=t, cfg=CFG)


@pytest.mark.slow
def test_a_healthy_day_raises_nothing_then_exactly_the_drifting_devices_alert(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'fleet.db'}")
    migrate(db)
    truth = Truth(np.random.default_rng(31))
    _setup(db, truth)
    t = 0.0
    for _ in range(144):  # a day of healthy telemetry, a look after every report
        t += PERIOD
        _report(db, truth, t, set())
        assert _look(db, t) == [], t
    raised: dict[str, float] = {}
    for _ in range(12):  # two hours of drift on 10 % of the devices
        t += PERIOD
        _report(db, truth, t, DRIFTING)
        for change in _look(db, t):
            assert change["change"] == "raised" and "BH level" in change["reason"]
            raised[change["key"]] = t
    assert {k.split(":")[1] for k in raised if k.startswith("device:")} == DRIFTING
    with db.session() as s:
        [model] = drift_report(s, t, window_s=CFG.window_s)
        flagged = {d["device_id"]: d for d in model["per_device"] if d["alert"]}
        assert set(flagged) == DRIFTING
        assert all(d["alert_evidence"]["psi_excess"] >= 0.1 for d in flagged.values())
        assert s.get(DriftState, f"device:{DEVICES[0]}:m@1.0.0").state["active"] is True
    db.dispose()
