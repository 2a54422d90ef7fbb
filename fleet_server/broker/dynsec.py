"""Device accounts and ACLs in an external Mosquitto through its dynamic-security plugin.

Instead of rewriting a password file (the built-in broker), the server sends the plugin's control
commands (``$CONTROL/dynamic-security/v1``) over MQTT as the plugin's admin account (the user of the
``--broker`` URL, created with ``mosquitto_ctrl dynsec init``):

- at start: a role ``tinyfleet-server`` that reads and writes every device topic, given to that account;
- at enrollment (the one moment the plaintext secret exists): a client per device with its secret and a
  role of its own, ``tinyfleet-device.<id>``, whose ACLs are the built-in broker's ``%u`` pattern ACL
  spelt out for that id (Mosquitto 2.0's dynamic-security ACLs do not expand ``%u``);
- at removal: the client and its role are deleted.

A device re-enrolled under the same id gets its new secret (``setClientPassword``). Every command's
answer is checked; a refusal is an error naming the command.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tinyfleet.errors import ServerError
from tinyfleet.wire import TOPIC_PREFIX

__all__ = ["DEVICE_ACLS", "SERVER_ROLE", "DynsecAdmin", "device_role"]

CONTROL = "$CONTROL/dynamic-security/v1"
SERVER_ROLE = "tinyfleet-server"
# (acltype, channel) pairs: the same rights as conf.render_acl's pattern lines
DEVICE_ACLS: tuple[tuple[str, str], ...] = (
    ("subscribePattern", "desired"),
    ("publishClientReceive", "desired"),
    ("publishClientSend", "state"),
    ("subscribePattern", "state"),
    ("publishClientReceive", "state"),
    ("publishClientSend", "event"),
    ("publishClientSend", "hb"),
    ("publishClientSend", "tm"),
    ("publishClientSend", "online"),
    ("subscribePattern", "online"),
    ("publishClientReceive", "online"),
)
_BATCH = 100  # devices per control message


def device_role(device_id: str) -> str:
    return f"tinyfleet-device.{device_id}"


class DynsecAdmin:
    """A small synchronous client for the plugin's control topic (one request at a time)."""

    def __init__(
        self, host: str, port: int, username: str, password: str, tls: bool = False, timeout: float = 10.0
    ) -> None:
        self.timeout = timeout
        self.username = username
        self._lock = threading.Lock()
        self._pending: dict[str, Any] = {}
        self._cv = threading.Condition()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"tf.server.dynsec.{secrets.token_hex(8)}",
            protocol=mqtt.MQTTv5,
        )
        c.username_pw_set(username, password)
        if tls:
            c.tls_set()
        c.on_message = self._on_message
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._refused = ""
        self._disconnected = threading.Event()
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = lambda _c, _u, _mid, codes, _p: self._subscribed.set()
        self._client = c
        self._host, self._port = host, port

    def start(self) -> None:
        try:
            self._client.connect(self._host, self._port, keepalive=30)
        except OSError as exc:
            raise ServerError(
                f"dynamic security: cannot reach the broker at {self._host}:{self._port}: {exc}"
            ) from None
        self._client.loop_start()
        self._ready()
        self.ensure_server_role()

    def _ready(self) -> None:
        """Wait for CONNACK and the SUBACK of the response topic (after a (re)connect)."""
        if not self._connected.wait(self.timeout) or self._refused:
            self.stop()
            raise ServerError(
                f"dynamic security: the broker refused {self.username!r} ({self._refused or 'no CONNACK'})"
            )
        if not self._subscribed.wait(self.timeout):
            self.stop()
            raise ServerError("dynamic security: no SUBACK for the control response topic")

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _flags: Any, _reason: Any, _props: Any) -> None:
        self._connected.clear()
        self._subscribed.clear()
        self._disconnected.set()

    def _on_connect(self, c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        else:
            c.subscribe(f"{CONTROL}/response", qos=1)  # again after every reconnect
        self._connected.set()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    # -- commands ------------------------------------------------------------------------------
    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        for resp in data.get("responses", []):
            corr = resp.get("correlationData")
            if corr:
                with self._cv:
                    self._pending[corr] = resp
                    self._cv.notify_all()

    def run(self, commands: list[dict[str, Any]], tolerate: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Send the commands in one message; raise on any refusal not in ``tolerate`` (substrings);
        the answers, in order."""
        if not commands:
            return []
        allowed = tuple(tolerate)
        with self._lock:
            ids = []
            for cmd in commands:
                cid = secrets.token_hex(8)
                cmd["correlationData"] = cid
                ids.append(cid)
            info = self._client.publish(CONTROL, json.dumps({"commands": commands}), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise ServerError(f"dynamic security: publish failed ({mqtt.error_string(info.rc)})")
            with self._cv:
                ok = self._cv.wait_for(lambda: all(i in self._pending for i in ids), self.timeout)
                answers = [self._pending.pop(i, None) for i in ids]
        if not ok:
            raise ServerError(
                "dynamic security: no answer from the broker (is the plugin loaded, the user its admin?)"
            )
        for cmd, ans in zip(commands, answers, strict=True):
            err = (ans or {}).get("error")
            if err and not any(t in err for t in allowed):
                raise ServerError(f"dynamic security: {cmd['command']} refused: {err}")
        return [a or {} for a in answers]

    def ensure_server_role(self) -> None:
        prefix = f"{TOPIC_PREFIX}/#"
        acls = [
            {"acltype": t, "topic": prefix, "allow": True, "priority": 0}
            for t in ("publishClientSend", "publishClientReceive", "subscribePattern")
        ]
        # ingest subscribes through a shared subscription: the plugin checks the whole $share filter
        acls.append(
            {"acltype": "subscribePattern", "topic": f"$share/+/{prefix}", "allow": True, "priority": 0}
        )
        self.run([{"command": "createRole", "rolename": SERVER_ROLE}], tolerate=("already exists",))
        # Mosquitto 2.0.11 ignores "acls" in createRole: one addRoleACL each
        self.run(
            [{"command": "addRoleACL", "rolename": SERVER_ROLE, **a} for a in acls], tolerate=("already",)
        )
        if SERVER_ROLE in self._my_roles():
            return
        # the plugin disconnects a client whose roles change (its ACLs are re-read): send, then reconnect
        self._disconnected.clear()
        cmd = {"command": "addClientRole", "username": self.username, "rolename": SERVER_ROLE, "priority": 0}
        self._client.publish(CONTROL, json.dumps({"commands": [cmd]}), qos=1)
        self._disconnected.wait(self.timeout)
        self._ready()  # paho's loop reconnects by itself
        if SERVER_ROLE not in self._my_roles():
            raise ServerError(f"dynamic security: could not give {self.username!r} the role {SERVER_ROLE}")

    def _my_roles(self) -> set[str]:
        (me,) = self.run([{"command": "getClient", "username": self.username}])
        return {str(r.get("rolename")) for r in me.get("data", {}).get("client", {}).get("roles", [])}

    def create_devices(self, pairs: Iterable[tuple[str, str]]) -> None:
        pairs = list(pairs)
        for i in range(0, len(pairs), _BATCH):
            chunk = pairs[i : i + _BATCH]
            roles: list[dict[str, Any]] = []
            role_acls: list[dict[str, Any]] = []
            clients = []
            passwords = []
            for device_id, secret in chunk:
                d = f"{TOPIC_PREFIX}/{device_id}"
                acls = [
                    {"acltype": t, "topic": f"{d}/{ch}", "allow": True, "priority": 0}
                    for t, ch in DEVICE_ACLS
                ]
                roles.append({"command": "createRole", "rolename": device_role(device_id)})
                role_acls.extend(
                    {"command": "addRoleACL", "rolename": device_role(device_id), **a} for a in acls
                )
                clients.append(
                    {
                        "command": "createClient",
                        "username": device_id,
                        "password": secret,
                        "roles": [{"rolename": device_role(device_id), "priority": 0}],
                    }
                )
                passwords.append({"command": "setClientPassword", "username": device_id, "password": secret})
            self.run(roles, tolerate=("already exists",))
            self.run(role_acls, tolerate=("already",))
            self.run(clients, tolerate=("already exists",))
            self.run(passwords)  # a re-enrolled id gets its new secret

    def delete_devices(self, device_ids: Iterable[str]) -> None:
        ids = list(device_ids)
        for i in range(0, len(ids), _BATCH):
            chunk = ids[i : i + _BATCH]
            self.run([{"command": "deleteClient", "username": d} for d in chunk], tolerate=("not found",))
            self.run(
                [{"command": "deleteRole", "rolename": device_role(d)} for d in chunk],
                tolerate=("not found",),
            )
