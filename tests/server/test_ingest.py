"""Ingest validation and writes, without a broker: every bad message is counted and dropped."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from tinyfleet.server.db import Device, DeviceEventRow, TelemetryRow
from tinyfleet.server.runtime import Runtime


def _state(device_id: str, ts: float, seq: int, version: str = "1.0.0") -> bytes:
    return json.dumps(
        {
            "v": 1,
            "device_id": device_id,
            "board": "rpi4",
            "kind": "linux",
            "ts": ts,
            "seq": seq,
            "active": {"name": "kws", "version": version, "sha256": "a" * 64},
            "update": "idle",
        }
    ).encode()


def test_bad_messages_are_counted_and_dropped(client: TestClient, runtime: Runtime) -> None:
    client.post("/api/v1/devices", json={"id": "ing-1", "board": "rpi4"})
    ing = runtime.ingest
    ing.refresh_devices()
    cases = {
        "topic": [
            ("tf/v1/d/ing-1/nope", b"{}"),
            ("other/topic", b"{}"),
            ("tf/v1/d/BAD/hb", b"{}"),
            ("", b"{}"),
        ],
        "malformed": [
            ("tf/v1/d/ing-1/hb", b"\xff\xfe"),
            ("tf/v1/d/ing-1/state", b"[]"),
            ("tf/v1/d/ing-1/online", b"yes"),
            ("tf/v1/d/ing-1/tm", b'{"v":2,"ts":1}'),
        ],
        "oversized": [("tf/v1/d/ing-1/hb", b"{" + b" " * 600 + b"}"), ("tf/v1/d/ing-1/tm", b"x" * 5000)],
        "spoofed": [("tf/v1/d/ing-1/state", _state("someone-else", 1.0, 1))],
        "unknown_device": [("tf/v1/d/ghost/hb", b'{"v":1,"ts":1}')],
    }
    before = dict(ing.stats)
    for msgs in cases.values():
        for topic, payload in msgs:
            ing.handle(topic, payload)
    ing.flush()  # unknown devices are checked against the database by the writer
    assert ing.stats["dropped"] - before["dropped"] == sum(len(m) for m in cases.values())
    assert ing.stats["written"] == before["written"]
    dev = client.get("/api/v1/devices/ing-1").json()
    assert dev["model"] is None and dev["last_seen"] is None


def test_valid_messages_are_written(client: TestClient, runtime: Runtime) -> None:
    client.post("/api/v1/devices", json={"id": "ing-2", "board": "rpi4"})
    ing = runtime.ingest
    ing.refresh_devices()
    ing.handle("tf/v1/d/ing-2/state", _state("ing-2", 10.0, 2, "1.1.0"))
    ing.handle("tf/v1/d/ing-2/state", _state("ing-2", 5.0, 1, "1.0.0"))  # older: ignored
    ing.handle("tf/v1/d/ing-2/online", b"1")
    ing.handle("tf/v1/d/ing-2/hb", b'{"v":1,"ts":11,"uptime_s":3}')
    ing.handle("tf/v1/d/ing-2/event", b'{"v":1,"deployment_id":"r1-x","type":"confirmed","ts":12}')
    ing.handle(
        "tf/v1/d/ing-2/tm",
        json.dumps(
            {
                "v": 1,
                "ts": 13,
                "period_s": 60,
                "model": "1.1.0",
                "n": 50,
                "err": 1,
                "cls": [20, 30],
                "conf": [0] * 15 + [50],
                "in": [[1] * 16],
            }
        ).encode(),
    )
    ing.flush()
    ing.handle("tf/v1/d/ing-2/state", _state("ing-2", 4.0, 0, "0.9.0"))  # a late retained copy: ignored
    ing.flush()
    with runtime.db.session() as s:
        dev = s.get(Device, "ing-2")
        assert dev is not None and dev.model_version == "1.1.0" and dev.online and dev.last_seen is not None
        ev = s.scalar(select(DeviceEventRow).where(DeviceEventRow.device_id == "ing-2"))
        assert ev is not None and ev.type == "confirmed" and ev.deployment_id == "r1-x"
        tm = s.scalar(select(TelemetryRow).where(TelemetryRow.device_id == "ing-2"))
        assert tm is not None and tm.n == 50 and tm.cls == [20, 30] and tm.input_hist == [[1] * 16]
    assert client.get("/api/v1/devices/ing-2/events").json()[0]["type"] == "confirmed"
