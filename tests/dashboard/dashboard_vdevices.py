"""Virtual devices for the browser tests: real MQTT 5 clients (paho-mqtt) that speak the wire contract
(``tinyfleet.wire``) against the server's own Mosquitto. Used until the fleet simulator can be driven
from a test; each one reports its state, follows its retained desired state (download → install →
self-test → confirm, as OTA events) and sends telemetry sketches with the fixed drift bins.

They do not download the artifact (no model runs here): the server-side rollout logic under test only
sees the events and states the real agent sends.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tinyfleet import wire
from tinyfleet.wire import Channel

STEPS = ("download_started", "downloaded", "installed", "self_test_passed", "activated", "confirmed")


@dataclass
class VirtualDevice:
    device_id: str
    secret: str
    host: str
    port: int
    board: str = "linux-x86_64"
    active: dict[str, Any] | None = None  # ModelRef fields: name, version, sha256, security_counter
    step_s: float = 0.15
    conf_peak: int = 14  # confidence bin most inferences land in (drift telemetry)
    history: list[str] = field(default_factory=list)  # versions it ran, in order

    def __post_init__(self) -> None:
        self._seq = 0
        self._lock = threading.Lock()
        self._deployment: str | None = None
        self._update = "idle"
        self._work: threading.Thread | None = None
        self.connected = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.device_id, protocol=mqtt.MQTTv5)
        c.username_pw_set(self.device_id, self.secret)
        c.will_set(wire.topic(self.device_id, Channel.ONLINE), b"0", qos=1, retain=True)
        c.reconnect_delay_set(0.2, 2)  # paho retries by itself, e.g. until the broker knows the password
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        self.client = c
        if self.active:
            self.history.append(self.active["version"])

    # ---- life cycle ------------------------------------------------------------------------------
    def start(self) -> VirtualDevice:
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(15):
            raise RuntimeError(f"{self.device_id}: no MQTT connection")
        return self

    def stop(self) -> None:
        self.client.publish(
            wire.topic(self.device_id, Channel.ONLINE), b"0", qos=1, retain=True
        ).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            return
        client.subscribe(wire.topic(self.device_id, Channel.DESIRED), qos=1)
        client.publish(wire.topic(self.device_id, Channel.ONLINE), b"1", qos=1, retain=True)
        self.publish_state()
        self.connected.set()

    # ---- messages ---------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def publish_state(self) -> None:
        active = wire.ModelRef(**self.active) if self.active else None
        slots = [wire.SlotInfo(slot="a", state="confirmed", model=active)] if active else []
        msg = wire.DeviceState(
            device_id=self.device_id,
            board=self.board,
            kind="sim",
            firmware="vdev-1",
            active=active,
            slots=slots,
            runtimes=["litert"],
            deployment_id=self._deployment,
            update=self._update,
            ts=time.time(),
            seq=self._next_seq(),
        )  # type: ignore[arg-type]
        self.client.publish(wire.topic(self.device_id, Channel.STATE), wire.encode(msg), qos=1, retain=True)

    def _event(self, kind: str, deployment_id: str, model: dict[str, Any] | None) -> None:
        ref = (
            wire.ModelRef(**{k: model[k] for k in ("name", "version", "sha256", "security_counter")})
            if model
            else None
        )
        msg = wire.DeviceEvent(
            deployment_id=deployment_id,
            type=wire.EventType(kind),
            model=ref,
            ts=time.time(),
            seq=self._next_seq(),
        )
        self.client.publish(wire.topic(self.device_id, Channel.EVENT), wire.encode(msg), qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            desired = wire.parse(Channel.DESIRED, message.payload)
        except wire.WireError:
            return
        if desired.model is None or desired.deployment_id == self._deployment:
            return
        target = wire.to_dict(desired.model)
        if self.active and self.active["sha256"] == target["sha256"]:
            return
        self._work = threading.Thread(target=self._install, args=(desired.deployment_id, target), daemon=True)
        self._work.start()

    def _install(self, deployment_id: str, model: dict[str, Any]) -> None:
        self._deployment = deployment_id
        for step in STEPS:
            time.sleep(self.step_s)
            self._update = {
                "download_started": "downloading",
                "downloaded": "verifying",
                "installed": "installing",
                "self_test_passed": "testing",
                "activated": "testing",
                "confirmed": "confirmed",
            }[step]
            if step == "activated":
                self.active = {k: model[k] for k in ("name", "version", "sha256", "security_counter")}
                self.history.append(model["version"])
            self._event(step, deployment_id, model)
            self.publish_state()

    def telemetry(self, n: int = 200, period_s: float = 5.0) -> None:
        """One telemetry report for the active version: confidence around ``conf_peak`` (one bin lower
        on any version but the first, so canary and control differ a little)."""
        if not self.active:
            return
        peak = self.conf_peak - (0 if self.active["version"] == self.history[0] else 1)
        conf = [0] * 16
        conf[peak] = n * 3 // 4
        conf[max(0, peak - 1)] = n - n * 3 // 4
        msg = wire.Telemetry(
            ts=time.time(),
            period_s=period_s,
            model=self.active["version"],
            n=n,
            err=1,
            lat_p50_us=900.0,
            lat_p95_us=1400.0,
            input_hist=[[n // 16] * 16],
            cls=[n // 3, n // 3, n - 2 * (n // 3)],
            conf=conf,
        )
        self.client.publish(wire.topic(self.device_id, Channel.TM), wire.encode(msg), qos=1)


def start_fleet(
    srv: Any,
    count: int,
    model: dict[str, Any] | None,
    prefix: str = "dev",
    boards: tuple[str, ...] = ("linux-x86_64", "rpi4"),
    tags: dict[str, str] | None = None,
) -> list[VirtualDevice]:
    """Enroll ``count`` devices on ``srv`` (a ``testkit.server.FleetServer``) and connect them."""
    devices = []
    for i in range(count):
        board = boards[i % len(boards)]
        creds = srv.add_device(f"{prefix}-{i:02d}", board=board, tags=tags or {})
        devices.append(
            VirtualDevice(
                creds["device_id"],
                creds["secret"],
                srv.broker_host,
                srv.broker_port,
                board=board,
                active=dict(model) if model else None,
            )
        )
    for d in devices:
        d.start()
    return devices
