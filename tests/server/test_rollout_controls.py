"""Rollout controls through the API and the CLI: validated at creation (one clear error), stored in
the spec, and obeyed by the scheduler against the database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_scheduler import _report_all, _setup

from testkit.server import FleetServer
from tinyfleet.cli.fleet import rollout_controls
from tinyfleet.cli.main import main
from tinyfleet.errors import UsageError
from tinyfleet.server.db import Device
from tinyfleet.server.runtime import Runtime
from tinyfleet.server.scheduler import step_rollout
from tinyfleet.server.scheduler.handler import parse_time

STAGES = [{"name": "all", "percent": 100}]


def _create(client: TestClient, **controls: Any) -> Any:
    body = {"model": "kws", "version": "2.0.0", "target": {"group": "fleet"}, "stages": STAGES, **controls}
    return client.post("/api/v1/rollouts", json=body)


def test_controls_are_stored_and_bad_ones_refused(client: TestClient, fleet_keys: Path) -> None:
    _setup(client, fleet_keys)
    ok = _create(
        client,
        retry={"max_retries": 3, "backoff_s": 30},
        window={"cron": "0 2 * * 1-5", "duration_s": 3600, "tz": "Europe/Berlin"},
        bandwidth_bytes_per_min=10_000_000,
        start_at="2030-01-01T00:00:00Z",
    )
    assert ok.status_code == 201, ok.text
    spec = client.get(f"/api/v1/rollouts/{ok.json()['id']}").json()["spec"]
    assert spec["retry"]["max_retries"] == 3 and spec["window"]["tz"] == "Europe/Berlin"
    assert spec["start_at"] == 1893456000.0 and spec["bandwidth_bytes_per_min"] == 10_000_000
    assert spec["package"]["size"] > 0
    for controls, words in (
        ({"retry": {"max_retries": 11}}, "max_retries"),
        ({"window": {"cron": "0 2 * *", "duration_s": 3600}}, "5 fields"),
        ({"window": {"cron": "0 2 * * *", "duration_s": 3600, "tz": "Nowhere/City"}}, "time zone"),
        ({"bandwidth_bytes_per_min": 10}, "below the package size"),
        ({"start_at": "tomorrow"}, "ISO 8601"),
        ({"start_at": "2030-01-01T00:00:00"}, "UTC offset"),
        ({"retry": {"max_retries": 2, "jitter": 1}}, "unknown field"),
    ):
        r = _create(client, **controls)
        assert 400 <= r.status_code < 500, (controls, r.text)
        assert words in r.text, (controls, r.text)


def test_scheduled_start_and_closed_window_hold_devices_back(
    client: TestClient, runtime: Runtime, fleet_keys: Path
) -> None:
    _setup(client, fleet_keys)
    _report_all(runtime.db)
    later = _create(client, start_at=time.time() + 3600).json()["id"]
    closed = _create(client, window={"cron": "0 0 1 1 *", "duration_s": 60}).json()["id"]  # once a year
    for rid in (later, closed):
        for _ in range(3):
            step_rollout(runtime.db, rid, "test", "http://x")
    assert client.get(f"/api/v1/rollouts/{later}").json()["status"] == "created"
    st = client.get(f"/api/v1/rollouts/{closed}").json()
    assert st["status"] == "running" and st["touched"] == 0
    with runtime.db.session() as s:
        assert all(d.desired is None for d in s.scalars(select(Device)))


def test_retries_through_the_scheduler(client: TestClient, runtime: Runtime, fleet_keys: Path) -> None:
    _setup(client, fleet_keys)
    _report_all(runtime.db)
    rid = _create(client, retry={"max_retries": 1, "backoff_s": 1, "max_backoff_s": 1}).json()["id"]
    step_rollout(runtime.db, rid, "test", "http://x")
    with runtime.db.session() as s:
        first = s.get(Device, "d00")
        assert first is not None and first.desired is not None
        dep = first.desired["deployment_id"]
    _report_all(runtime.db, fail={"d00"})
    step_rollout(runtime.db, rid, "test", "http://x")  # failure recorded
    time.sleep(1.1)
    step_rollout(runtime.db, rid, "test", "http://x")  # retry due: a new deployment of the package
    with runtime.db.session() as s:
        again = s.get(Device, "d00")
        assert again is not None and again.desired is not None
        assert again.desired["deployment_id"] != dep and again.desired["model"]["version"] == "2.0.0"
    for _ in range(5):
        _report_all(runtime.db)
        step_rollout(runtime.db, rid, "test", "http://x")
    st = client.get(f"/api/v1/rollouts/{rid}").json()
    assert st["status"] == "succeeded", st
    assert [e["kind"] for e in client.get(f"/api/v1/rollouts/{rid}/events").json()].count("retried") == 1


def test_cli_flags_make_the_request_fields() -> None:
    assert rollout_controls(
        2, 30.0, None, None, "0 2 * * *", 3600.0, "Europe/Berlin", "2M", "2030-01-01T00:00Z"
    ) == {
        "retry": {"max_retries": 2, "backoff_s": 30.0},
        "window": {"cron": "0 2 * * *", "duration_s": 3600.0, "tz": "Europe/Berlin"},
        "bandwidth_bytes_per_min": 2_000_000,
        "start_at": "2030-01-01T00:00Z",
    }
    assert rollout_controls(None, None, None, None, None, None, "UTC", "500k", None) == {
        "bandwidth_bytes_per_min": 500_000
    }
    assert rollout_controls(None, None, None, None, None, None, "UTC", None, None) == {}
    with pytest.raises(UsageError, match="go together"):
        rollout_controls(None, None, None, None, "0 2 * * *", None, "UTC", None, None)
    with pytest.raises(UsageError, match="bandwidth"):
        rollout_controls(None, None, None, None, None, None, "UTC", "fast", None)
    assert parse_time("1700000000", "start_at") == 1.7e9
    assert parse_time("2023-11-14T22:13:20+00:00", "start_at") == 1.7e9


def test_cli_rejects_a_bad_window_with_one_line(
    fleet_server_proc: FleetServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fleet_server_proc
    for k, v in srv.cli_env.items():
        monkeypatch.setenv(k, v)
    srv.publish_model(srv.make_package("kws", "1.0.0", 1))
    srv.add_device("c1", tags={"site": "c"})
    args = ["rollout", "create", "kws@1.0.0", "--selector", "site=c"]
    code = main([*args, "--maintenance-window", "0 25 * * *", "--maintenance-duration", "600"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "hour" in err, err
    code = main(
        [
            *args,
            "--retries",
            "2",
            "--maintenance-window",
            "0 2 * * *",
            "--maintenance-duration",
            "600",
            "--maintenance-tz",
            "Asia/Tokyo",
            "--bandwidth",
            "1M",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
