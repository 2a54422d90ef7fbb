"""One device's MQTT 5 session: persistent (Clean Start = false + Session Expiry), last will,
reconnect with exponential backoff and full jitter.

paho-mqtt 2 through its public API only, driven by the asyncio loop (paho's "external event loop"
mode: ``on_socket_open``/``on_socket_close``/``on_socket_(un)register_write`` callbacks hand the socket
to ``loop.add_reader``/``add_writer``, and ``loop_misc()`` runs once a second for keep-alive). No
thread per device, so the simulator runs thousands of sessions in one process.

The session owns reconnecting: ``run()`` loops connect → serve until the link drops → wait
``Backoff.next_delay()`` → connect again. The blocking TCP connect runs on a worker thread so a
broker that does not answer never stalls the event loop. On every (re)connect it publishes
``online = 1`` (retained; the will sets ``0``), subscribes to the device's ``desired`` topic and calls
``on_connected`` so the owner can republish its retained state and flush what it stored while
offline. Incoming messages are acknowledged only after the handler ran (paho's manual
acknowledgement), so a crash inside the handler gets the message redelivered. Outstanding QoS 1
publishes are capped (``max_inflight``): beyond it ``publish`` refuses and the caller keeps the message
(paho silently loses QoS 1 publishes beyond 65,535 unacknowledged ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tinyfleet.agent.backoff import Backoff
from tinyfleet.wire import Channel, topic

__all__ = ["MqttSession", "SessionConfig"]

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], Awaitable[None]]
ConnectedHandler = Callable[[], Awaitable[None]]

# MQTT 5 DISCONNECT reason 0x04: the broker publishes the will (a power cut, seen from the fleet).
_DISCONNECT_WITH_WILL = 4
_MISC_PERIOD_S = 1.0


@dataclass
class SessionConfig:
    device_id: str
    password: str
    host: str = "127.0.0.1"
    port: int = 1883
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    connect_timeout_s: float = 10.0
    max_inflight: int = 64
    subscribe_desired: bool = True


class MqttSession:
    def __init__(
        self,
        cfg: SessionConfig,
        on_message: MessageHandler | None = None,
        on_connected: ConnectedHandler | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.cfg = cfg
        self.backoff = backoff or Backoff()
        self._on_message = on_message
        self._on_connected = on_connected
        self.connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._connack: asyncio.Future[ReasonCode] | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self.connects = 0
        self.last_error = ""
        self._outstanding: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._fd: int | None = None

        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.device_id,
            protocol=mqtt.MQTTv5,
        )
        c.username_pw_set(cfg.device_id, cfg.password)
        c.will_set(topic(cfg.device_id, Channel.ONLINE), b"0", qos=1, retain=True)
        c.manual_ack_set(True)
        c.max_inflight_messages_set(cfg.max_inflight)
        c.connect_timeout = cfg.connect_timeout_s
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_paho_message
        c.on_publish = self._on_publish
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write
        self.client = c

    # -- publishing --------------------------------------------------------------------------
    @property
    def inflight(self) -> int:
        """QoS 1 publishes sent and not yet acknowledged by the broker."""
        return len(self._outstanding)

    def publish(self, channel: Channel, payload: bytes, qos: int = 0, retain: bool = False) -> bool:
        """Send now if connected and under the in-flight cap; False means "keep it and retry later"."""
        if not self.connected.is_set() or (qos > 0 and self.inflight >= self.cfg.max_inflight):
            return False
        try:
            info = self.client.publish(topic(self.cfg.device_id, channel), payload, qos=qos, retain=retain)
        except (OSError, ValueError, RuntimeError) as exc:
            log.debug("%s: publish failed: %s", self.cfg.device_id, exc)
            return False
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.debug("%s: publish refused: %s", self.cfg.device_id, mqtt.error_string(info.rc))
            return False
        if qos > 0:
            self._outstanding.add(info.mid)
        return True

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Keep the session up until ``stop()``."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        misc = asyncio.create_task(self._misc_loop())
        try:
            while not self._stopping:
                if await self._connect_once():
                    await self._serve()
                if self._stopping:
                    break
                await self._pause(self.backoff.next_delay())
        finally:
            misc.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await misc

    async def _connect_once(self) -> bool:
        assert self._loop is not None
        self._lost.clear()
        self._connack = self._loop.create_future()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: untyped constructor
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        props.ReceiveMaximum = 32
        try:
            await asyncio.wait_for(
                asyncio.to_thread(
                    self.client.connect,
                    self.cfg.host,
                    self.cfg.port,
                    keepalive=self.cfg.keepalive_s,
                    clean_start=False,
                    properties=props,
                ),
                timeout=self.cfg.connect_timeout_s + 1.0,
            )
            reason = await asyncio.wait_for(asyncio.shield(self._connack), timeout=self.cfg.connect_timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.info("%s: connect failed (%s)", self.cfg.device_id, self.last_error)
            self._drop_socket()
            return False
        if reason.is_failure:
            self.last_error = f"CONNACK {reason.value:#04x} {reason}"
            log.info("%s: connect refused (%s)", self.cfg.device_id, self.last_error)
            self._drop_socket()
            return False
        return True

    async def _serve(self) -> None:
        self.connects += 1
        self.backoff.reset()
        self.connected.set()
        self.publish(Channel.ONLINE, b"1", qos=1, retain=True)
        if self.cfg.subscribe_desired:
            self.client.subscribe(topic(self.cfg.device_id, Channel.DESIRED), qos=1)
        if self._on_connected is not None:
            try:
                await self._on_connected()
            except Exception:
                log.exception("%s: on_connected failed", self.cfg.device_id)
        await self._lost.wait()
        self.connected.clear()
        if not self._stopping:
            log.info("%s: connection lost; reconnecting", self.cfg.device_id)

    async def stop(self, graceful: bool = True) -> None:
        """Leave: publish ``online = 0`` and disconnect (graceful), or just drop the link (like a power cut)."""
        self._stopping = True
        self._stop_event.set()
        if graceful and self.connected.is_set():
            self.publish(Channel.ONLINE, b"0", qos=1, retain=True)
            deadline = asyncio.get_running_loop().time() + 2.0
            while self._outstanding and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            self.client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), 2.0)
        else:
            await self.drop()
        self._drop_socket()
        self.connected.clear()
        self._lost.set()

    def restart(self) -> None:
        """Allow ``run()`` again after ``stop()`` (a simulated device coming back)."""
        self._stopping = False
        self._stop_event.clear()
        self._lost.clear()

    async def drop(self) -> None:
        """Cut the link as a power cut would (the broker publishes the will); ``run()`` reconnects."""
        if self.client.is_connected():
            self.client.disconnect(
                reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=_DISCONNECT_WITH_WILL)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), 1.0)
        self._drop_socket()
        self._lost.set()

    def _drop_socket(self) -> None:
        """Forget a half-open connection (failed connect, refused CONNACK) without a DISCONNECT."""
        if self.client.socket() is not None:
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                self.client.disconnect()
            # a refused CONNACK leaves the socket to the broker's close; read that close now
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                self.client.loop_read()
        self._unwatch()

    async def _pause(self, seconds: float) -> None:
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def _misc_loop(self) -> None:
        while True:
            await asyncio.sleep(_MISC_PERIOD_S)
            if self.client.socket() is not None:
                self.client.loop_misc()

    # -- paho callbacks (all on the event loop thread, except socket open during connect) ---------
    def _call(self, fn: Callable[[], None]) -> None:
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            fn()
        else:
            self._loop.call_soon_threadsafe(fn)

    def _on_socket_open(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        fd = sock.fileno()

        def watch() -> None:
            assert self._loop is not None
            if self._fd is not None:
                self._unwatch()
            self._fd = fd
            self._loop.add_reader(fd, self._readable)

        self._call(watch)

    def _on_socket_close(self, _c: mqtt.Client, _u: Any, _sock: Any) -> None:
        self._call(self._unwatch)
        self._call(self._lost.set)

    def _on_register_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        fd = sock.fileno()

        def want() -> None:
            if self._loop is not None and self._fd == fd:
                self._loop.add_writer(fd, self._writable)

        self._call(want)

    def _on_unregister_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        fd = sock.fileno()

        def done() -> None:
            if self._loop is not None and fd >= 0:
                self._loop.remove_writer(fd)

        self._call(done)

    def _unwatch(self) -> None:
        if self._loop is not None and self._fd is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        self._fd = None

    def _readable(self) -> None:
        self.client.loop_read(max_packets=16)

    def _writable(self) -> None:
        self.client.loop_write()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(reason)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        if not self._stopping and reason.is_failure:
            self.last_error = f"disconnected: {reason}"
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(ConnectionError(f"connection closed before CONNACK ({reason})"))
        self._lost.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _reason: Any, _props: Any) -> None:
        self._outstanding.discard(mid)

    def _on_paho_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        task = asyncio.get_running_loop().create_task(
            self._handle(msg.topic, bytes(msg.payload), msg.mid, msg.qos)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, topic_name: str, payload: bytes, mid: int, qos: int) -> None:
        if self._on_message is not None:
            try:
                await self._on_message(topic_name, payload)
            except Exception:
                log.exception("%s: handler failed for %s", self.cfg.device_id, topic_name)
        if qos > 0 and self.client.is_connected():
            self.client.ack(mid, qos)
