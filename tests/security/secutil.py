"""Helpers of the security tests: waiting, the broker's server account, rollouts."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from testkit.server import FleetServer


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = pred()
        except httpx.HTTPError:
            got = None
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class ServerAccount:
    """The broker's server account (what a stolen server password gives): reads and writes every
    device's ``desired`` topic."""

    def __init__(self, srv: FleetServer) -> None:
        broker = srv.directory / "data" / "broker"
        secret = (broker / "server.secret").read_text().strip()
        port = int((broker / "server.port").read_text().strip())
        self.got: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        ready = threading.Event()
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"spy-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.c.username_pw_set("tf.server", secret)
        self.c.on_connect = lambda *_a: ready.set()
        self.c.on_message = self._on_message
        self.c.connect(srv.broker_host, port)
        self.c.loop_start()
        assert ready.wait(10), "server account did not connect"
        self.c.subscribe("tf/v1/d/+/desired", qos=1)

    def _on_message(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        if m.payload:
            with self._lock:
                self.got.append((m.topic, bytes(m.payload)))

    def desired_of(self, device_id: str) -> list[bytes]:
        with self._lock:
            return [p for t, p in self.got if t == f"tf/v1/d/{device_id}/desired"]

    def inject(self, device_id: str, payload: bytes) -> None:
        self.c.publish(f"tf/v1/d/{device_id}/desired", payload, qos=1, retain=True).wait_for_publish(10)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _rollout(api: httpx.Client, version: str, tag: str) -> int:
    r = api.post(
        "/api/v1/rollouts",
        json={
            "model": "tiny",
            "version": version,
            "target": {"selector": {"who": tag}},
            "stages": [{"name": "all", "percent": 100}],
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])
