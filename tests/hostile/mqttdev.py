"""A bare MQTT 5 device for the hostile tests: paho-mqtt, any client id, publish and watch.

It speaks the wire contract only as far as a test asks; the hostile tests use it to send what a
real agent never would.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions


class Dev:
    """One connection. ``client_id`` defaults to the username (the documented recommendation)."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        client_id: str | None = None,
        connect: bool = True,
    ) -> None:
        self.user = user
        self.got: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.refused: object = None
        self.disconnects = 0
        self.lock = threading.Lock()
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id if client_id is not None else user,
            protocol=mqtt.MQTTv5,
        )
        self.c.username_pw_set(user, password)
        self.c.max_inflight_messages_set(1000)
        self.c.on_message = self._on_message
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        if connect:
            self.c.connect(host, port)
            self.c.loop_start()

    def _on_message(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.got.append((m.topic, bytes(m.payload)))

    def _on_connect(self, _c: object, _u: object, _f: object, rc: Any, _p: object) -> None:
        if rc.is_failure:
            self.refused = rc
        else:
            self.connected.set()

    def _on_disconnect(self, _c: object, _u: object, _f: object, _rc: object, _p: object) -> None:
        self.connected.clear()
        self.disconnects += 1

    def wait(self, timeout: float = 10.0) -> Dev:
        if not self.connected.wait(timeout):
            raise AssertionError(f"{self.user} not connected: {self.refused}")
        return self

    def pub(
        self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        return self.c.publish(topic, payload, qos=qos, retain=retain)

    def sub(self, topic: str, qos: int = 1) -> None:
        self.c.subscribe([(topic, SubscribeOptions(qos=qos))])

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def enroll(srv: Any, prefix: str, n: int, board: str = "linux-x86_64") -> list[dict[str, Any]]:
    """``n`` enrolled devices ``{prefix}-{i}`` on ``srv`` (a testkit FleetServer)."""
    return [srv.add_device(f"{prefix}-{i}", board=board) for i in range(n)]


def connect(srv: Any, creds: dict[str, Any], client_id: str | None = None) -> Dev:
    return Dev(srv.broker_host, srv.broker_port, creds["device_id"], creds["secret"], client_id).wait()


def event(
    deployment_id: str = "x", typ: str = "download_started", ts: float | None = None, seq: int = 0
) -> bytes:
    ts = time.time() if ts is None else ts
    return f'{{"v":1,"deployment_id":"{deployment_id}","type":"{typ}","ts":{ts!r},"seq":{seq}}}'.encode()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(cond: Any, timeout: float = 20.0, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(every)
    return bool(cond())
