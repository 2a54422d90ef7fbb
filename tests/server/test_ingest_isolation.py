"""Defect 1 of issue 11 at the writer: a message the database refuses costs only its sender.

The messages are queued as the MQTT thread would queue them, but some carry a value the database
refuses (``ts = None`` into a NOT NULL column: what ``NaN`` became on SQLite), so the test holds
whatever the wire decoder accepts: the per-device, then per-message fallback is defence in depth.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tinyfleet.server.db import DeviceEventRow
from tinyfleet.server.runtime import Runtime
from tinyfleet.wire import Channel, EventType


def _event(ts: float | None) -> SimpleNamespace:
    return SimpleNamespace(
        deployment_id="r1-x", type=EventType.DOWNLOAD_STARTED, detail="", progress=None, ts=ts
    )


def _stored(runtime: Runtime, device_id: str) -> int:
    with runtime.db.session() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(DeviceEventRow).where(DeviceEventRow.device_id == device_id)
            )
            or 0
        )


def test_a_refused_row_costs_only_its_sender(client: TestClient, runtime: Runtime) -> None:
    for d in ("good-1", "good-2", "evil"):
        assert client.post("/api/v1/devices", json={"id": d, "board": "rpi4"}).status_code == 201
    ing = runtime.ingest
    ing.refresh_devices()
    now = time.time()
    queue = ing._queue  # what handle() appends to, after validation
    for i in range(50):
        queue.append(("good-1", Channel.EVENT, _event(1000.0 + i), now, True))
        if i % 10 == 0:
            queue.append(("evil", Channel.EVENT, _event(None), now, True))
            queue.append(("evil", Channel.EVENT, _event(2000.0 + i), now, True))
        queue.append(("good-2", Channel.EVENT, _event(3000.0 + i), now, True))
    dropped_before = ing.stats["dropped"]
    ing.flush()
    assert _stored(runtime, "good-1") == 50
    assert _stored(runtime, "good-2") == 50
    # the hostile device loses only the refused rows; its valid ones are kept
    assert _stored(runtime, "evil") == 5
    assert ing.refused_by_device == {"evil": 5}
    assert ing.stats["dropped"] - dropped_before == 5
    assert ing.stats["written"] == 105


def test_a_flooding_device_is_capped_alone(client: TestClient, runtime: Runtime) -> None:
    """Above its token bucket a device loses only its own messages (reason ``rate``), before they
    are parsed or queued; another device interleaved with the flood keeps every message."""
    for d in ("calm", "flood"):
        assert client.post("/api/v1/devices", json={"id": d, "board": "rpi4"}).status_code == 201
    ing = runtime.ingest
    ing.refresh_devices()
    hb = b'{"v":1,"ts":1,"uptime_s":1}'
    before = dict(ing.stats)
    for i in range(5000):
        ing.handle("tf/v1/d/flood/hb", hb)
        if i % 50 == 0:
            ing.handle("tf/v1/d/calm/hb", hb)
    accepted = ing.stats["received"] - before["received"]
    calm = 100
    # the burst, plus what the rate refilled while the loop ran (well under a second)
    assert ing.device_burst + calm <= accepted <= ing.device_burst + calm + ing.device_rate
    assert ing.dropped_by_device["flood"].reason == "rate"
    assert "calm" not in ing.dropped_by_device
    for _ in range(3):  # retained copies (the server's own re-reads) are never capped
        ing.handle("tf/v1/d/flood/online", b"1", retained=True)
    assert ing.stats["received"] - before["received"] == accepted + 3
    ing.flush()
