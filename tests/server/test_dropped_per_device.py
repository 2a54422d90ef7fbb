"""A message the wire contract refuses is visible for its device: a log line with the device id and
the offending field, and a counter in the device detail of the API (issue 16 item 9)."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tinyfleet import wire
from tinyfleet.server.runtime import Runtime

GOOD = wire.DeviceState(device_id="dev-ok", board="rpi4", kind=wire.DeviceKind.LINUX, ts=1.0)


def test_dropped_message_is_logged_and_counted_per_device(
    client: TestClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    for dev in ("dev-bad", "dev-ok"):
        assert client.post("/api/v1/devices", json={"id": dev, "board": "rpi4"}).status_code == 201
    bad = (
        b'{"v":1,"device_id":"dev-bad","board":"rpi4","kind":"linux","ts":1,'
        b'"slots":[{"slot":"a","state":"active"}]}'
    )
    with caplog.at_level(logging.WARNING, logger="tinyfleet.ingest"):
        runtime.ingest.handle(wire.topic("dev-bad", "state"), bad)
        runtime.ingest.handle(wire.topic("dev-bad", "hb"), b'{"v":1,"ts":NaN}')
        runtime.ingest.handle(wire.topic("dev-ok", "state"), wire.encode(GOOD))
        runtime.ingest.flush()
    lines = [r.getMessage() for r in caplog.records if "dev-bad" in r.getMessage()]
    assert len(lines) == 1  # one line a minute per device, however many it sends
    assert "state message dropped (malformed, field slots[0].state)" in lines[0]

    detail = client.get("/api/v1/devices/dev-bad").json()
    assert detail["dropped"]["count"] == 2
    assert (detail["dropped"]["reason"], detail["dropped"]["channel"]) == ("malformed", "hb")
    ok = client.get("/api/v1/devices/dev-ok").json()
    assert ok["dropped"] is None and ok["kind"] == "linux"  # the other device's state went through


def test_spoofed_and_oversized_are_counted_for_the_sender(client: TestClient, runtime: Runtime) -> None:
    assert client.post("/api/v1/devices", json={"id": "dev-s", "board": "rpi4"}).status_code == 201
    other = wire.DeviceState(device_id="dev-x", board="rpi4", kind=wire.DeviceKind.LINUX, ts=1.0)
    runtime.ingest.handle(wire.topic("dev-s", "state"), wire.encode(other))
    d = client.get("/api/v1/devices/dev-s").json()["dropped"]
    assert (d["count"], d["reason"], d["field"]) == (1, "spoofed", "device_id")
    runtime.ingest.handle(wire.topic("dev-s", "hb"), b"{" + b" " * 600 + b"}")
    d = client.get("/api/v1/devices/dev-s").json()["dropped"]
    assert (d["count"], d["reason"], d["field"]) == (2, "oversized", "")
