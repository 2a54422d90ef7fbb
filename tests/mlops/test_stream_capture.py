"""A Linux agent's capture from its inference stream (StreamCapture) against a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from testkit.server import FleetServer, running_server
from tinyfleet.agent.capture import StreamCapture


@pytest.fixture(scope="module")
def srv() -> Iterator[FleetServer]:
    with running_server() as s:
        yield s


def test_stream_capture_uploads_a_stretch_of_the_stream(srv: FleetServer) -> None:
    cred = srv.add_device("edge-1", board="linux-x86_64")
    srv.add_device("edge-2", board="linux-x86_64")
    srv.publish_model(srv.make_package("tiny", "1.0.0", 1))
    with srv.api as c:
        c.put("/api/v1/groups/edge", json={"name": "edge", "devices": ["edge-1"]}).raise_for_status()
        c.put("/api/v1/capture/groups/edge", json={"enabled": True}).raise_for_status()
        rnd = c.post("/api/v1/capture/requests", json={"model": "tiny", "group": "edge", "count": 5}).json()
        low = c.post(
            "/api/v1/capture/requests",
            json={
                "model": "tiny",
                "group": "edge",
                "count": 3,
                "trigger": "low_confidence",
                "confidence_below": 0.5,
            },
        ).json()
    sc = StreamCapture(srv.url, "edge-1", cred["secret"])
    sc.offer(np.zeros(4, np.int8), np.zeros(3, np.int8))  # nothing asked yet: ignored
    assert sc.poll() == []  # learns both requests; nothing kept yet
    rng = np.random.default_rng(0)
    for i in range(12):  # 12 inferences: the random request waits for 4 × 5 = 20
        conf = -100 if i % 2 else 100  # int8 top output: -100 ≈ 0.11, 100 ≈ 0.89 (scale 1/256, zp -128)
        sc.offer(rng.integers(-128, 128, 4).astype(np.int8), np.asarray([conf, -128, -128], np.int8))
    assert sc.poll() == [201]  # low_confidence is full (3 of the odd ones): sent
    for _ in range(10):
        sc.offer(rng.integers(-128, 128, 4).astype(np.int8), np.asarray([100, -128, -128], np.int8))
    assert sc.poll() == [201]  # 22 seen ≥ 20: the random sample goes
    assert sc.poll() == []  # nothing left to do
    with srv.api as c:
        assert c.get(f"/api/v1/capture/requests/{rnd['id']}").json()["samples_received"] == 5
        got = c.get(f"/api/v1/capture/requests/{low['id']}").json()
        assert got["samples_received"] == 3 and got["confidence_below"] == 0
    # a request about to expire is sent with what it has
    with srv.api as c:
        short = c.post(
            "/api/v1/capture/requests", json={"model": "tiny", "group": "edge", "count": 50, "ttl_s": 60}
        ).json()
    sc.poll()
    sc.offer(np.ones(4, np.int8), np.zeros(3, np.int8))
    assert sc.poll(now=time.time()) == [201]
    with srv.api as c:
        assert c.get(f"/api/v1/capture/requests/{short['id']}").json()["samples_received"] == 1
    sc.client.close()
