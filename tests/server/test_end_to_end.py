"""The real server process with its own Mosquitto and MQTT devices: ingest, validation, staged
rollout to convergence, and SIGKILL of the server in the middle of a rollout."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from tests_server_helpers import VirtualDevice, VirtualFleet

from testkit.server import FleetServer, wait_for


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    return wait_for(pred, timeout, what, every=0.2)


def _fleet(srv: FleetServer, n: int, v1: dict[str, Any], fail: frozenset[str] = frozenset()) -> VirtualFleet:
    devices = []
    for i in range(n):
        creds = srv.add_device(f"e{i:02d}", board="linux-x86_64", tags={"fleet": "e2e"})
        active = {k: v1[k] for k in ("name", "version", "sha256", "security_counter")}
        devices.append(
            VirtualDevice(
                creds["device_id"],
                creds["secret"],
                srv.broker_host,
                srv.broker_port,
                active=active,
                fail_install=creds["device_id"] in fail,
            )
        )
    return VirtualFleet(devices).start()


def _metric(srv: FleetServer, name: str, label: str) -> float:
    total = 0.0
    for line in httpx.get(f"{srv.url}/metrics").text.splitlines():
        if line.startswith(name) and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _read_stream(srv: FleetServer, lines: list[str], stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {srv.admin_token}"}
    with httpx.stream("GET", f"{srv.url}/api/v1/events/stream", headers=headers, timeout=30) as r:
        for line in r.iter_lines():
            lines.append(line)
            if stop.is_set():
                return


def test_ingest_counts_and_drops_bad_messages(fleet_server_proc: FleetServer) -> None:
    srv = fleet_server_proc
    v1 = srv.publish_model(srv.make_package("kws", "1.0.0", 1))
    lines: list[str] = []
    stop = threading.Event()
    threading.Thread(target=_read_stream, args=(srv, lines, stop), daemon=True).start()
    _wait(lambda: lines, 10, "the event stream to open")
    fleet = _fleet(srv, 1, v1)
    try:
        api = srv.api
        _wait(lambda: api.get("/api/v1/devices/e00").json()["online"], 15, "device online")
        dev = api.get("/api/v1/devices/e00").json()
        assert dev["model"]["version"] == "1.0.0" and dev["kind"] == "sim"
        c = fleet.devices[0].c
        c.publish("tf/v1/d/e00/hb", b"{not json", qos=1).wait_for_publish(5)
        c.publish("tf/v1/d/e00/hb", b'{"v":1,"ts":1,' + b" " * 600 + b"}", qos=1).wait_for_publish(5)
        c.publish(
            "tf/v1/d/e00/state", b'{"v":1,"device_id":"e99","board":"rpi4","kind":"sim","ts":1}', qos=1
        ).wait_for_publish(5)
        c.publish(
            "tf/v1/d/e00/tm", b'{"v":1,"ts":1,"period_s":60,"model":"1.0.0","n":-5}', qos=1
        ).wait_for_publish(5)
        _wait(
            lambda: _metric(srv, "tinyfleet_mqtt_dropped_total", 'reason="malformed"') >= 2,
            10,
            "malformed counted",
        )
        assert _metric(srv, "tinyfleet_mqtt_dropped_total", 'reason="oversized"') >= 1
        assert _metric(srv, "tinyfleet_mqtt_dropped_total", 'reason="spoofed"') >= 1
        # the spoofed state changed nothing, and the server still ingests good messages
        fleet.devices[0].publish_state("idle", None)
        _wait(lambda: api.get("/api/v1/devices/e00").json()["update"] == "idle", 10, "good state")
        assert api.get("/api/v1/health").json()["status"] == "ok"
        assert "event: device" in lines and any(x.startswith("data: ") and '"e00"' in x for x in lines)
        stop.set()
        fleet.devices[0].c.disconnect()  # clean disconnect: the agent clears its online flag itself
        fleet.devices[0].c.loop_stop()
        raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="e00", protocol=mqtt.MQTTv5)
        raw.username_pw_set("e00", fleet.devices[0].secret)
        raw.will_set("tf/v1/d/e00/online", b"0", qos=1, retain=True)
        raw.connect(srv.broker_host, srv.broker_port)
        raw.loop_start()
        raw.publish("tf/v1/d/e00/online", b"1", qos=1, retain=True).wait_for_publish(5)
        _wait(lambda: api.get("/api/v1/devices/e00").json()["online"], 10, "online again")
        raw._sock_close()  # vanish without DISCONNECT: the broker publishes the last will
        raw.loop_stop()
        _wait(lambda: not api.get("/api/v1/devices/e00").json()["online"], 40, "last will → offline")
        api.close()
    finally:
        fleet.stop()


@pytest.mark.slow
def test_sigkill_mid_rollout_resumes_without_double_assignment(fleet_server_proc: FleetServer) -> None:
    srv = fleet_server_proc
    n = 16
    v1 = srv.publish_model(srv.make_package("kws", "1.0.0", 1))
    srv.publish_model(srv.make_package("kws", "2.0.0", 2))
    fleet = _fleet(srv, n, v1)
    api = srv.api
    try:
        api.put("/api/v1/groups/e2e", json={"name": "e2e", "selector": {"fleet": "e2e"}}).raise_for_status()
        _wait(lambda: sum(d["online"] for d in api.get("/api/v1/devices").json()) == n, 20, "devices online")
        stages = [
            {"name": "canary", "devices": ["e00", "e01"], "soak_s": 0.5},
            {"name": "quarter", "percent": 25, "soak_s": 3.0},
            {"name": "half", "percent": 50, "soak_s": 0.5},
            {"name": "all", "percent": 100},
        ]
        r = api.post(
            "/api/v1/rollouts",
            json={"model": "kws", "version": "2.0.0", "target": {"group": "e2e"}, "stages": stages},
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        _wait(lambda: api.get(f"/api/v1/rollouts/{rid}").json()["stage"] >= 1, 30, "second stage")
        before = api.get(f"/api/v1/rollouts/{rid}").json()
        assert (
            before["status"] not in ("succeeded", "rolled_back", "aborted") and 0 < before["touched"] < n
        ), before
        srv.kill(signal.SIGKILL)
        time.sleep(1.0)
        srv.start()
        api.close()
        api = srv.api
        final = _wait(
            lambda: (st := api.get(f"/api/v1/rollouts/{rid}").json())["status"] == "succeeded" and st,
            90,
            "rollout to finish after the restart",
        )
        assert final["devices"]["confirmed"] == n
        assigned = api.get(f"/api/v1/rollouts/{rid}/devices").json()
        assert sorted(a["device_id"] for a in assigned) == [f"e{i:02d}" for i in range(n)]
        assert all(len(d.installs) == 1 for d in fleet.devices), {
            d.device_id: d.installs for d in fleet.devices
        }
        assert all(d["model"]["version"] == "2.0.0" for d in api.get("/api/v1/devices").json())
        seqs = [e["seq"] for e in api.get(f"/api/v1/rollouts/{rid}/events").json()]
        assert seqs == list(range(1, len(seqs) + 1))
    finally:
        api.close()
        fleet.stop()


def test_lost_states_are_repaired_from_retained_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from testkit.server import running_server

    monkeypatch.setenv("TINYFLEET_RESYNC_INTERVAL", "1")
    with running_server() as srv:
        v1 = srv.publish_model(srv.make_package("kws", "1.0.0", 1))
        fleet = _fleet(srv, 1, v1)
        try:
            with srv.api as api:
                _wait(
                    lambda: (api.get("/api/v1/devices/e00").json()["model"] or {}).get("version") == "1.0.0",
                    15,
                    "state",
                )
                db = sqlite3.connect(srv.directory / "data" / "tinyfleet.db")
                with db:  # as if the broker had dropped the state message while ingest lagged
                    db.execute(
                        "UPDATE devices SET model_version = NULL, model_name = NULL, state_ts = NULL WHERE id = 'e00'"
                    )
                db.close()
                assert api.get("/api/v1/devices/e00").json()["model"] is None
                _wait(
                    lambda: (api.get("/api/v1/devices/e00").json()["model"] or {}).get("version") == "1.0.0",
                    20,
                    "the periodic re-read to restore the state",
                )
        finally:
            fleet.stop()
