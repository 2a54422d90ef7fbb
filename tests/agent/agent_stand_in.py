"""Real infrastructure for the agent tests: a Mosquitto broker on a free port (password file + ACL,
``tinyfleet.agent.sim.broker``) and a small HTTP file server with Range support and Basic auth (what the fleet server's artifact
endpoint does), plus an MQTT observer that plays the server's side of the wire contract.

The fleet server's own fixture replaces the stand-in where it is used (tests/server)."""

from __future__ import annotations

import base64
import http.server
import json
import queue
import socket
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho

from tinyfleet import wire
from tinyfleet.agent.sim.broker import SERVER_USER, LocalBroker

SERVER_PASSWORD = "server-secret"
DEVICES = {f"edge-{i:02d}": f"secret-{i:02d}" for i in range(8)} | {
    f"mcu-{i:02d}": f"mcu-secret-{i:02d}" for i in range(4)
}
Broker = LocalBroker


def make_broker(folder: Path, users: dict[str, str]) -> LocalBroker:
    return LocalBroker.create(folder, users, SERVER_PASSWORD)


class RangeFileHandler(http.server.BaseHTTPRequestHandler):
    """GET /artifacts/<name> with Basic auth and a single ``Range: bytes=a-`` / ``a-b``."""

    server: FileServer

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        auth = self.headers.get("Authorization", "")
        ok = False
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            ok = srv.users.get(user) == pw
        if not ok:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="tinyfleet"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        name = self.path.rsplit("/", 1)[-1]
        data = srv.files.get(name)
        if data is None:
            self.send_error(404)
            return
        srv.requests.append((name, self.headers.get("Range")))
        start, end = 0, len(data) - 1
        rng = self.headers.get("Range")
        status = 200
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start = int(a)
            end = int(b) if b else len(data) - 1
            status = 206
        body = data[start : end + 1]
        cut = srv.cut_after.pop(name, None)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        corrupt = srv.corrupt_next.pop(name, 0)
        if corrupt:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        self.wfile.write(body)


class FileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, users: dict[str, str]) -> None:
        super().__init__(("127.0.0.1", 0), RangeFileHandler)
        self.users = users
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}
        self.corrupt_next: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class Observer:
    """The server's side of the MQTT contract: publishes desired state, collects states and events."""

    def __init__(self, port: int) -> None:
        self.events: queue.Queue[tuple[str, wire.DeviceEvent]] = queue.Queue()
        self.states: dict[str, wire.DeviceState] = {}
        self.telemetry: list[tuple[str, bytes]] = []
        self.online: dict[str, bool] = {}
        self.event_log: list[tuple[str, wire.DeviceEvent]] = []
        self.lock = threading.Lock()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id="observer", protocol=paho.MQTTv5
        )
        self.client.username_pw_set(SERVER_USER, SERVER_PASSWORD)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(
            [("tf/v1/d/+/state", 1), ("tf/v1/d/+/event", 1), ("tf/v1/d/+/tm", 1), ("tf/v1/d/+/online", 1)]
        )
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        device, channel = wire.parse_topic(msg.topic)
        with self.lock:
            if channel is wire.Channel.STATE:
                self.states[device] = wire.parse(channel, msg.payload, device)
            elif channel is wire.Channel.EVENT:
                ev = wire.parse(channel, msg.payload)
                self.event_log.append((device, ev))
                self.events.put((device, ev))
            elif channel is wire.Channel.TM:
                self.telemetry.append((device, msg.payload))
            elif channel is wire.Channel.ONLINE:
                self.online[device] = msg.payload == b"1"

    def desire(self, device: str, desired: wire.DesiredState) -> None:
        info = self.client.publish(
            wire.topic(device, wire.Channel.DESIRED), wire.encode(desired), qos=1, retain=True
        )
        info.wait_for_publish(5)

    def wait_event(self, device: str, types: set[wire.EventType], timeout: float = 30.0) -> wire.DeviceEvent:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {sorted(types)} event from {device}; seen: {self.types(device)}")
            try:
                dev, ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if dev == device and ev.type in types:
                return ev

    def types(self, device: str) -> list[str]:
        with self.lock:
            return [e.type.value for d, e in self.event_log if d == device]

    def wait_state(self, device: str, pred: object, timeout: float = 30.0) -> wire.DeviceState:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                st = self.states.get(device)
            if st is not None and pred(st):  # type: ignore[operator]
                return st
            time.sleep(0.05)
        raise AssertionError(f"state of {device} never matched; last: {self.states.get(device)}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def json_lines(data: bytes) -> list[dict[str, object]]:
    return [json.loads(x) for x in data.splitlines() if x.strip()]
