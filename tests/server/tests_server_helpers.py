"""Minimal MQTT devices for the server's end-to-end tests (the real agent lives in device_agent/).

Each device follows the wire contract: online flag with a last will, retained state, its desired
state subscribed; a desired model is downloaded over HTTP with the device's own credentials,
checked against its sha256, then reported with OTA events and a new retained state.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tinyfleet import wire
from tinyfleet.wire import Channel


@dataclass
class VirtualDevice:
    device_id: str
    secret: str
    host: str
    port: int
    board: str = "linux-x86_64"
    active: dict[str, Any] | None = None
    fail_install: bool = False
    installs: list[str] = field(default_factory=list)  # deployment ids of models installed
    handled: set[str] = field(default_factory=set)
    seq: int = 0
    update: str = "idle"
    deployment_id: str | None = None

    def __post_init__(self) -> None:
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.device_id, protocol=mqtt.MQTTv5)
        self.c.username_pw_set(self.device_id, self.secret)
        self.c.will_set(wire.topic(self.device_id, Channel.ONLINE), b"0", qos=1, retain=True)
        self.c.reconnect_delay_set(0.1, 1)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.lock = threading.Lock()

    def _on_connect(self, c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            return
        c.subscribe(wire.topic(self.device_id, Channel.DESIRED), qos=1)
        c.publish(wire.topic(self.device_id, Channel.ONLINE), b"1", qos=1, retain=True)
        # like the real agent, a device that reconnects reports where it stands (its last update and
        # deployment), not a blank state: an event it sent while the server was down is not lost for good
        self.publish_state(self.update, self.deployment_id)

    def publish_state(self, update: str, deployment_id: str | None) -> None:
        with self.lock:
            self.update, self.deployment_id = update, deployment_id
            self.seq += 1
            st = wire.DeviceState(
                device_id=self.device_id,
                board=self.board,
                kind="sim",
                active=wire.ModelRef(**self.active) if self.active else None,
                runtimes=["litert"],
                deployment_id=deployment_id,
                update=update,
                ts=time.time(),
                seq=self.seq,
            )
        self.c.publish(wire.topic(self.device_id, Channel.STATE), wire.encode(st), qos=1, retain=True)

    def event(self, deployment_id: str, typ: str, detail: str = "") -> None:
        ev = wire.DeviceEvent(
            deployment_id=deployment_id, type=wire.EventType(typ), detail=detail, ts=time.time()
        )
        self.c.publish(wire.topic(self.device_id, Channel.EVENT), wire.encode(ev), qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.payload:
            self.fleet.work.put((self, msg.payload))

    def handle_desired(self, payload: bytes) -> None:
        desired = wire.parse(Channel.DESIRED, payload)
        dep = desired.deployment_id
        if desired.model is None:
            return
        m = desired.model
        if self.active and self.active["sha256"] == m.sha256:  # already there: say so (idempotent)
            self.publish_state("confirmed", dep)
            return
        if dep in self.handled:
            return
        self.handled.add(dep)
        self.event(dep, "download_started")
        r = httpx.get(m.url, auth=(self.device_id, self.secret), timeout=30)
        if r.status_code != 200 or hashlib.sha256(r.content).hexdigest() != m.sha256:
            self.event(dep, "verify_failed", f"http {r.status_code}")
            self.publish_state("failed", dep)
            return
        if self.fail_install:
            self.event(dep, "self_test_failed", "simulated")
            self.publish_state("failed", dep)
            return
        self.active = {
            "name": m.name,
            "version": m.version,
            "sha256": m.sha256,
            "security_counter": m.security_counter,
        }
        self.installs.append(dep)
        self.event(dep, "confirmed")
        self.publish_state("confirmed", dep)


class VirtualFleet:
    def __init__(self, devices: list[VirtualDevice], workers: int = 4) -> None:
        self.devices = devices
        self.work: queue.Queue[tuple[VirtualDevice, bytes] | None] = queue.Queue()
        self.threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(workers)]
        for d in devices:
            d.fleet = self  # type: ignore[attr-defined]

    def _worker(self) -> None:
        while (item := self.work.get()) is not None:
            dev, payload = item
            try:
                dev.handle_desired(payload)
            except Exception as exc:  # noqa: BLE001 - a device that cannot reach the server retries later
                dev.handled.discard(json.loads(payload).get("deployment_id", ""))
                time.sleep(0.2)
                self.work.put((dev, payload))
                _ = exc

    def start(self) -> VirtualFleet:
        for t in self.threads:
            t.start()
        for d in self.devices:
            d.c.connect_async(d.host, d.port, keepalive=10)
            d.c.loop_start()
        return self

    def stop(self) -> None:
        for d in self.devices:
            d.c.disconnect()
            d.c.loop_stop()
        for _ in self.threads:
            self.work.put(None)
