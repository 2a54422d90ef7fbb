"""Two server processes, one PostgreSQL database, one broker: ingest is split (never double-counted)
and a rollout driven by both assigns every device exactly once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from tests_server_helpers import VirtualDevice, VirtualFleet

from testkit.server import FleetServer, running_server
from tinyfleet import wire
from tinyfleet.wire import Channel

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _received(srv: FleetServer, channel: str) -> float:
    for line in httpx.get(f"{srv.url}/metrics").text.splitlines():
        if line.startswith("tinyfleet_mqtt_received_total") and f'channel="{channel}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _wait(pred, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if v := pred():
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_processes_share_ingest_and_rollout(postgres_url: str, tmp_path: Path) -> None:
    n, reports = 16, 5
    shared = ["--artifact-dir", str(tmp_path / "artifacts")]  # one artifact store for both processes
    with (
        running_server(postgres_url, shared) as a,
        running_server(
            postgres_url,
            shared,
            broker_url=a.broker_url,
            device_broker_port=a.broker_port,
            key_dir=a.key_dir,
        ) as b,
    ):
        v1 = a.publish_model(a.make_package("kws", "1.0.0", 1))
        b.publish_model(b.make_package("kws", "2.0.0", 2))
        devices = []
        for i in range(n):
            creds = (a if i % 2 else b).add_device(f"m{i:02d}", tags={"fleet": "mp"})
            assert creds["mqtt"]["port"] == a.broker_port
            devices.append(
                VirtualDevice(
                    creds["device_id"],
                    creds["secret"],
                    a.broker_host,
                    a.broker_port,
                    active={k: v1[k] for k in ("name", "version", "sha256", "security_counter")},
                )
            )
        fleet = VirtualFleet(devices).start()
        try:
            with a.api as api:
                _wait(
                    lambda: sum(d["online"] for d in api.get("/api/v1/devices").json()) == n,
                    30,
                    "devices online",
                )
            for d in devices:
                for k in range(reports):
                    tm = wire.Telemetry(ts=time.time() - k, period_s=60, model="1.0.0", n=10, cls=[5, 5, 0])
                    d.c.publish(wire.topic(d.device_id, Channel.TM), wire.encode(tm), qos=1)
            _wait(lambda: _received(a, "tm") + _received(b, "tm") >= n * reports, 30, "telemetry ingested")
            assert _received(a, "tm") > 0 and _received(b, "tm") > 0  # the broker split the load
            time.sleep(1.0)  # let both writers flush
            with b.api as api:
                drift = api.get("/api/v1/drift", params={"name": "kws", "version": "1.0.0"}).json()
                assert drift[0]["n"] == n * reports * 10  # every report counted once
                api.put(
                    "/api/v1/groups/mp", json={"name": "mp", "selector": {"fleet": "mp"}}
                ).raise_for_status()
                r = api.post(
                    "/api/v1/rollouts",
                    json={
                        "model": "kws",
                        "version": "2.0.0",
                        "target": {"group": "mp"},
                        "stages": [
                            {"name": "c", "count": 2},
                            {"name": "h", "percent": 50},
                            {"name": "all", "percent": 100},
                        ],
                    },
                )
                assert r.status_code == 201, r.text
                rid = r.json()["id"]
                _wait(
                    lambda: api.get(f"/api/v1/rollouts/{rid}").json()["status"] == "succeeded",
                    90,
                    "rollout done",
                )
                touched = [x["device_id"] for x in api.get(f"/api/v1/rollouts/{rid}/devices").json()]
            assert sorted(touched) == [f"m{i:02d}" for i in range(n)]
            assert all(len(d.installs) == 1 for d in devices), json.dumps(
                {d.device_id: d.installs for d in devices}
            )
        finally:
            fleet.stop()
