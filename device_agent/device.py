"""What every real device kind shares (the Linux agent, each MCU behind a gateway): reporting
events and state over its MQTT session, taking in desired states, and reconciling them through
the update state machine.

Events produced while offline wait in memory (up to 500, oldest dropped) and go out in order when
the session is back. Only the newest desired state matters: an older one still queued is dropped.

A device with online keys (``desired_keys``) acts only on desired states the server signed for it
(``tinyfleet.desired``): a replayed, stale, expired, other-device, tampered or untrusted one is
refused, the device keeps what it runs, and reports why as a ``verify_failed`` event with an empty
deployment id (so a refusal never counts against a rollout). The highest sequence number it
accepted is kept in ``desired_seq_path`` across restarts.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import logging
import time
from pathlib import Path

from tinyfleet import wire
from tinyfleet.agent.mqtt_session import MqttSession
from tinyfleet.agent.reconcile import Action, Executor, Step, decide
from tinyfleet.desired import SignedDesiredState, check_desired, parse_signed
from tinyfleet.errors import SignatureError
from tinyfleet.fsutil import atomic_write_text

__all__ = ["FleetDevice"]

log = logging.getLogger(__name__)


class FleetDevice(abc.ABC):
    session: MqttSession
    executor: Executor

    def __init__(self, device_id: str, max_attempts: int) -> None:
        self.device_id = device_id
        self.max_attempts = max_attempts
        self.update_step = Step.IDLE
        self.deployment_id: str | None = None
        self.events: list[wire.DeviceEvent] = []  # every event this process produced (tests, CLI)
        self._outbox: collections.deque[bytes] = collections.deque(maxlen=500)
        self._seq = 0
        self._desired: asyncio.Queue[wire.DesiredState] | None = None
        self.desired_keys: dict[str, bytes] = {}  # online keys; empty: unsigned desired states accepted
        self.desired_seq_path: Path | None = None
        self.refusals: list[str] = []  # why desired states were refused (tests, CLI)

    def last_desired(self) -> tuple[int, str]:
        """(sequence number, signature hex) of the newest desired state accepted; (0, "") if none."""
        if self.desired_seq_path is None:
            return 0, ""
        try:
            seq, _, sig = self.desired_seq_path.read_text("ascii").strip().partition(" ")
            return int(seq), sig
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            return 0, ""

    # -- what a device kind supplies -------------------------------------------------------------
    @abc.abstractmethod
    def state(self) -> wire.DeviceState: ...

    @abc.abstractmethod
    def active_sha256(self) -> str | None:
        """Digest of the package the device runs (None: none, or unknown)."""

    # -- reporting -------------------------------------------------------------------------------
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def publish_state(self) -> None:
        self.session.publish(wire.Channel.STATE, wire.encode(self.state()), qos=1, retain=True)

    async def _status(self, step: Step) -> None:
        self.update_step = step
        self.publish_state()

    async def _emit(
        self, etype: wire.EventType, model: wire.DesiredModel | None, detail: str, progress: float | None
    ) -> None:
        self.emit_nowait(etype, model, detail, progress)

    def emit_nowait(
        self, etype: wire.EventType, model: wire.DesiredModel | None, detail: str, progress: float | None
    ) -> None:
        ref = (
            None
            if model is None
            else wire.ModelRef(
                name=model.name,
                version=model.version,
                sha256=model.sha256,
                security_counter=model.security_counter,
            )
        )
        ev = wire.DeviceEvent(
            deployment_id=self.deployment_id or "",
            type=etype,
            model=ref,
            detail=detail[:200],
            progress=progress,
            ts=round(time.time(), 3),
            seq=self.next_seq(),
        )
        self.events.append(ev)
        log.info("%s: %s %s", self.device_id, etype.value, detail)
        payload = wire.encode(ev)
        if self._outbox or not self.session.publish(wire.Channel.EVENT, payload, qos=1):
            self._outbox.append(payload)

    def drain_events(self) -> None:
        while self._outbox and self.session.publish(wire.Channel.EVENT, self._outbox[0], qos=1):
            self._outbox.popleft()

    # -- desired state ---------------------------------------------------------------------------
    async def _on_message(self, topic_name: str, payload: bytes) -> None:
        try:
            _dev, channel = wire.parse_topic(topic_name)
            if channel is not wire.Channel.DESIRED or not payload:  # empty: the server cleared it
                return
            desired = wire.parse(channel, payload) if not self.desired_keys else parse_signed(payload)
        except wire.WireError as exc:
            log.warning("%s: dropped a bad message: %s", self.device_id, exc)
            return
        if self.desired_keys and not self._accept_signed(desired):
            return
        if self._desired is not None:
            while not self._desired.empty():  # only the newest desired state matters
                self._desired.get_nowait()
            self._desired.put_nowait(desired)

    def _accept_signed(self, desired: wire.DesiredState) -> bool:
        assert isinstance(desired, SignedDesiredState)
        last_seq, last_sig = self.last_desired()
        if desired.signed is not None and last_sig and desired.signed.sig == last_sig:
            last_seq -= 1  # the one already accepted, delivered again (reconnect, restart): checked again
        try:
            inst = check_desired(
                desired, self.desired_keys, device_id=self.device_id, last_seq=last_seq, now=time.time()
            )
        except SignatureError as exc:
            self.refuse(str(exc))
            return False
        if self.desired_seq_path is not None:
            atomic_write_text(
                self.desired_seq_path, f"{inst.seq} {desired.signed.sig if desired.signed else ''}\n"
            )
        return True

    def refuse(self, why: str) -> None:
        """Report a refused desired state; nothing else changes."""
        detail = f"desired state refused: {why}"
        self.refusals.append(detail)
        log.warning("%s: %s", self.device_id, detail)
        ev = wire.DeviceEvent(
            deployment_id="",
            type=wire.EventType.VERIFY_FAILED,
            detail=detail[:200],
            ts=round(time.time(), 3),
            seq=self.next_seq(),
        )
        self.events.append(ev)
        payload = wire.encode(ev)
        if self._outbox or not self.session.publish(wire.Channel.EVENT, payload, qos=1):
            self._outbox.append(payload)

    async def update(self, desired: wire.DesiredState) -> Step | None:
        """Reconcile one desired state; returns the terminal step, or None when nothing was to do."""
        active_sha = self.active_sha256()
        action, reason = decide(desired, active_sha, self.executor.journal, self.max_attempts)
        if action is Action.NOTHING:
            log.info("%s: %s", self.device_id, reason)
            if (
                self.deployment_id != desired.deployment_id
                and desired.model is not None
                and desired.model.sha256 == active_sha
            ):
                self.deployment_id = desired.deployment_id
                self.update_step = Step.DONE
                self.publish_state()
            return None
        self.deployment_id = desired.deployment_id
        return await self.executor.run(desired)

    async def reconcile_forever(self) -> None:
        self._desired = asyncio.Queue()
        while True:
            desired = await self._desired.get()
            try:
                await self.update(desired)
            except Exception:
                log.exception("%s: update failed unexpectedly", self.device_id)
