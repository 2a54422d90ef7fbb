"""One device's MQTT 5 session: persistent (Clean Start = false + Session Expiry), last will,
reconnect with exponential backoff and full jitter.

The session owns reconnecting (gmqtt's own fixed-delay reconnect is switched off): ``run()`` loops
connect → serve until the link drops → wait ``Backoff.next_delay()`` → connect again. On every
(re)connect it publishes ``online = 1`` (retained; the will sets ``0``), subscribes to the device's
``desired`` topic and calls ``on_connected`` so the owner can republish its retained state and flush
what it stored while offline. Incoming messages are acknowledged only after the handler ran
(``optimistic_acknowledgement=False``), so a crash inside the handler gets the message redelivered.
Outstanding QoS 1 publishes are capped (``max_inflight``): beyond it ``publish`` refuses and the
caller keeps the message (gmqtt would otherwise reuse packet ids under a burst).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50
from gmqtt.mqtt.handler import MQTTConnectError

from tinyfleet.agent.backoff import Backoff
from tinyfleet.wire import Channel, topic

__all__ = ["MqttSession", "SessionConfig"]

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], Awaitable[None]]
ConnectedHandler = Callable[[], Awaitable[None]]


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


class _Client(gmqtt.Client):
    """gmqtt client whose automatic reconnect only tells the session that the link is gone."""

    def __init__(self, *args: Any, lost: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tf_lost = lost

    async def reconnect(self, delay: bool = False) -> None:  # noqa: ARG002 - gmqtt's signature
        self._tf_lost()


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
        self._stopping = False
        self._stop_event = asyncio.Event()
        self.connects = 0
        self.last_error = ""
        will = gmqtt.Message(topic(cfg.device_id, Channel.ONLINE), b"0", qos=1, retain=True)
        self.client = _Client(
            cfg.device_id,
            clean_session=False,
            optimistic_acknowledgement=False,
            will_message=will,
            lost=self._lost.set,
            session_expiry_interval=cfg.session_expiry_s,
            receive_maximum=32,
        )
        self.client.set_auth_credentials(cfg.device_id, cfg.password)
        self.client.on_message = self._handle
        self.client.on_disconnect = lambda *_a: self._lost.set()

    # -- publishing --------------------------------------------------------------------------
    @property
    def inflight(self) -> int:
        return len(self.client._persistent_storage._messages)

    def publish(self, channel: Channel, payload: bytes, qos: int = 0, retain: bool = False) -> bool:
        """Send now if connected and under the in-flight cap; False means "keep it and retry later"."""
        if not self.connected.is_set() or (qos > 0 and self.inflight >= self.cfg.max_inflight):
            return False
        try:
            self.client.publish(topic(self.cfg.device_id, channel), payload, qos=qos, retain=retain)
        except (OSError, AttributeError, RuntimeError) as exc:
            log.debug("%s: publish failed: %s", self.cfg.device_id, exc)
            return False
        return True

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Keep the session up until ``stop()``."""
        while not self._stopping:
            self._lost.clear()
            try:
                await asyncio.wait_for(
                    self.client.connect(
                        self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s, version=MQTTv50
                    ),
                    timeout=self.cfg.connect_timeout_s,
                )
            except (OSError, TimeoutError, MQTTConnectError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.info("%s: connect failed (%s)", self.cfg.device_id, self.last_error)
                await self._close_quietly()
                await self._pause(self.backoff.next_delay())
                continue
            if self._lost.is_set():
                await self._close_quietly()
                await self._pause(self.backoff.next_delay())
                continue
            self.connects += 1
            self.backoff.reset()
            self.connected.set()
            self.publish(Channel.ONLINE, b"1", qos=1, retain=True)
            if self.cfg.subscribe_desired:
                self.client.subscribe(topic(self.cfg.device_id, Channel.DESIRED), qos=1)
            if self._on_connected is not None:
                try:
                    await self._on_connected()
                except Exception:  # noqa: BLE001 - a failing owner callback must not kill the session
                    log.exception("%s: on_connected failed", self.cfg.device_id)
            await self._lost.wait()
            self.connected.clear()
            if self._stopping:
                break
            log.info("%s: connection lost; reconnecting", self.cfg.device_id)
            await self._close_quietly()
            await self._pause(self.backoff.next_delay())

    async def stop(self, graceful: bool = True) -> None:
        """Leave: publish ``online = 0`` and disconnect (graceful), or just drop the link (like a power cut)."""
        self._stopping = True
        self._stop_event.set()
        if graceful and self.connected.is_set():
            self.publish(Channel.ONLINE, b"0", qos=1, retain=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.client._persistent_storage.wait_empty(), 2.0)
            with contextlib.suppress(OSError, TimeoutError, AttributeError):
                await asyncio.wait_for(self.client.disconnect(), 2.0)
        else:
            await self._close_quietly(abort=True)
        self.connected.clear()
        self._lost.set()

    def restart(self) -> None:
        """Allow ``run()`` again after ``stop()`` (a simulated device coming back)."""
        self._stopping = False
        self._stop_event.clear()
        self._lost.clear()

    async def drop(self) -> None:
        """Cut the link without DISCONNECT (the broker publishes the will); ``run()`` reconnects."""
        await self._close_quietly(abort=True)
        self._lost.set()

    async def _close_quietly(self, abort: bool = False) -> None:
        conn = getattr(self.client, "_connection", None)
        if conn is None:
            return
        transport = getattr(conn, "_transport", None)
        try:
            if abort and transport is not None:
                transport.abort()
            else:
                await asyncio.wait_for(conn.close(), 1.0)
        except (OSError, TimeoutError, AttributeError, RuntimeError):
            pass

    async def _pause(self, seconds: float) -> None:
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def _handle(self, _client: Any, topic_name: str, payload: bytes, _qos: int, _props: Any) -> int:
        if self._on_message is None:
            return 0
        try:
            await self._on_message(topic_name, bytes(payload))
        except Exception:  # noqa: BLE001 - log and acknowledge: a poison message must not loop forever
            log.exception("%s: handler failed for %s", self.cfg.device_id, topic_name)
        return 0
