"""One MQTT 5 connection (paho-mqtt 2) for ingest and for publishing desired states.

Ingest subscribes through the shared subscription ``$share/GROUP/...`` so several server
processes split the devices' messages between them; GROUP is secret (``broker.share_group``), so a
device cannot join it and draw the server's traffic to itself. Shared subscriptions never deliver retained
messages, so right after each connect the client also subscribes once, unshared, to the retained
``state`` and ``online`` topics to learn what changed while no server was listening, and drops that
subscription again once the retained messages are in.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from tinyfleet.errors import ServerError
from tinyfleet.server.config import BrokerURL
from tinyfleet.wire import Channel, wildcard

__all__ = ["SHARE_GROUP", "MqttLink"]

log = logging.getLogger("tinyfleet.mqtt")
SHARE_GROUP = "tinyfleet"  # only when no group is given (an external broker without a server password)
_INGEST = (Channel.STATE, Channel.EVENT, Channel.HB, Channel.TM, Channel.ONLINE)
_RETAINED = (Channel.STATE, Channel.ONLINE)
Handler = Callable[[str, bytes, bool], None]  # topic, payload, retained


class MqttLink:
    """``on_message=None``: a publish-only connection. The server keeps its desired-state publishing on
    a connection of its own, so PUBACKs never queue behind a backlog of inbound device messages."""

    def __init__(
        self,
        url: BrokerURL,
        client_id: str,
        on_message: Handler | None,
        max_inflight: int = 1000,
        ca_file: str | None = None,
        bootstrap_seconds: float = 3.0,
        share_group: str = SHARE_GROUP,
    ) -> None:
        self.url = url
        self.share_group = share_group
        self.on_message_cb = on_message
        self.connected = threading.Event()
        self.bootstrap_seconds = bootstrap_seconds
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if url.username:
            self._client.username_pw_set(url.username, url.password)
        if url.tls:
            self._client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._client.max_inflight_messages_set(max_inflight)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(1, 5)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._bootstrap_timer: threading.Timer | None = None

    def start(self, timeout: float = 10.0) -> None:
        try:
            self._client.connect_async(self.url.host, self.url.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise ServerError(
                f"cannot reach the MQTT broker at {self.url.host}:{self.url.port}: {exc}"
            ) from None
        self._client.loop_start()
        if not self.connected.wait(timeout):
            self.stop()
            raise ServerError(
                f"no MQTT connection to {self.url.host}:{self.url.port} within {timeout:.0f} s (credentials?)"
            )

    def stop(self) -> None:
        if self._bootstrap_timer is not None:
            self._bootstrap_timer.cancel()
        self._client.disconnect()
        self._client.loop_stop()

    def publish(
        self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1
    ) -> mqtt.MQTTMessageInfo:
        return self._client.publish(topic, payload, qos=qos, retain=retain)

    # ---- callbacks (paho's network thread) -----------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _ud: object, _flags: object, reason: object, _props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("MQTT connection refused: %s", reason)
            return
        self.connected.set()
        if self.on_message_cb is None:
            return
        subs = [(f"$share/{self.share_group}/{wildcard(ch)}", SubscribeOptions(qos=1)) for ch in _INGEST]
        subs += [(wildcard(ch), SubscribeOptions(qos=1, noLocal=True)) for ch in _RETAINED]
        client.subscribe(subs)
        self._arm_bootstrap_end()
        log.info("MQTT connected to %s:%d", self.url.host, self.url.port)

    def _arm_bootstrap_end(self) -> None:
        if self._bootstrap_timer is not None:
            self._bootstrap_timer.cancel()
        self._bootstrap_timer = threading.Timer(self.bootstrap_seconds, self._end_bootstrap)
        self._bootstrap_timer.daemon = True
        self._bootstrap_timer.start()

    def resync(self) -> None:
        """Read every retained ``state``/``online`` again (a safety net for messages the broker
        dropped while this connection lagged behind); the ingest keeps only newer states."""
        if self.on_message_cb is None or not self.connected.is_set():
            return
        self._client.subscribe([(wildcard(ch), SubscribeOptions(qos=1, noLocal=True)) for ch in _RETAINED])
        self._arm_bootstrap_end()

    def _end_bootstrap(self) -> None:
        self._client.unsubscribe([wildcard(ch) for ch in _RETAINED])

    def _on_disconnect(
        self, _c: mqtt.Client, _ud: object, _flags: object, reason: object, _props: object
    ) -> None:
        self.connected.clear()
        log.warning("MQTT disconnected: %s", reason)

    def _on_message(self, _c: mqtt.Client, _ud: object, msg: mqtt.MQTTMessage) -> None:
        if self.on_message_cb is None:
            return
        try:
            try:
                topic = msg.topic
            except UnicodeDecodeError:
                topic = ""  # counted as a malformed topic by the handler
            self.on_message_cb(topic, bytes(msg.payload), bool(msg.retain))
        except Exception:
            log.exception("ingest handler failed")


def wait_published(infos: list[mqtt.MQTTMessageInfo], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    for info in infos:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            info.wait_for_publish(remaining)
        except (RuntimeError, ValueError):
            return False
        if not info.is_published():
            return False
    return True
