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

A device provisioned with a root (``tinyfleet.trust``) learns its package and online keys from the
root-signed key list the server attaches to desired states: a newer valid list replaces both sets
(rotation, revocation) and is kept in ``key_list_path``; an invalid one is reported and ignored.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import json
import logging
import time
from pathlib import Path

from tinyfleet import wire
from tinyfleet.agent.mqtt_session import MqttSession
from tinyfleet.agent.reconcile import Action, Executor, Step, decide
from tinyfleet.desired import SignedDesiredState, check_desired, key_list_doc, parse_signed
from tinyfleet.errors import SignatureError, UsageError
from tinyfleet.fsutil import atomic_write_text
from tinyfleet.signing import load_trusted_keys
from tinyfleet.trust import KeyList, Root, SignedDoc, TrustError, check_key_list, key_list_from

__all__ = ["FleetDevice", "device_event"]

log = logging.getLogger(__name__)


def device_event(
    deployment_id: str | None,
    etype: wire.EventType,
    model: wire.DesiredModel | None,
    detail: str,
    progress: float | None,
    seq: int,
) -> wire.DeviceEvent:
    """The OTA event a device reports about ``model`` (the agent, the gateway's MCU and the simulator)."""
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
    return wire.DeviceEvent(
        deployment_id=deployment_id or "",
        type=etype,
        model=ref,
        detail=detail[:200],
        progress=progress,
        ts=round(time.time(), 3),
        seq=seq,
    )


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
        self.root: Root | None = None  # set: keys come from root-signed key lists
        self.package_keys: dict[str, bytes] = {}  # the dict the package verifier reads (updated in place)
        self.key_list: KeyList | None = None
        self.key_list_path: Path | None = None
        # package keys a key list retired (not revoked): accepted only for packages already installed
        self.installed_keys: dict[str, bytes] = {}

    def configure_trust(
        self, desired_keys: list[Path], root: Path | None, state_dir: Path, package_keys: dict[str, bytes]
    ) -> None:
        """Online keys from files, or a root (whose key lists then set both key sets)."""
        if desired_keys:
            self.desired_keys = load_trusted_keys(desired_keys)
        if root is not None:
            try:
                self.root = Root.from_json(json.loads(Path(root).read_text("utf-8")))
            except (OSError, ValueError) as exc:
                raise UsageError(f"cannot read the root {root}: {exc}") from None
            except TrustError as exc:
                raise UsageError(f"{root}: {exc}") from None
            self.package_keys = package_keys
            self.key_list_path = state_dir / "keys.json"
            with contextlib.suppress(OSError, ValueError, AttributeError):
                kept = json.loads((state_dir / "retired-keys.json").read_text("utf-8"))
                self.installed_keys = {str(k): bytes.fromhex(v) for k, v in kept.items()}
        if self.verify_desired:
            self.desired_seq_path = state_dir / "desired.seq"
        self.load_key_list()

    @property
    def verify_desired(self) -> bool:
        return bool(self.desired_keys) or self.root is not None

    def load_key_list(self) -> None:
        """Adopt the key list kept from an earlier run (checked against the root again)."""
        if self.root is None or self.key_list_path is None or not self.key_list_path.exists():
            return
        try:
            doc = SignedDoc.from_json(json.loads(self.key_list_path.read_text("utf-8")))
            expires = key_list_from(doc.payload).expires_at  # kept lists are used past expiry
            self._adopt(check_key_list(doc, self.root, current_version=0, revoked=set(), now=expires), doc)
        except (OSError, ValueError, SignatureError) as exc:
            log.warning("%s: kept key list not used: %s", self.device_id, exc)

    def _adopt(self, kl: KeyList, doc: SignedDoc) -> None:
        self.key_list = kl
        self.desired_keys.clear()
        self.desired_keys.update(kl.online_keys)
        for kid, raw in self.package_keys.items():  # retired, not revoked: installed packages still load
            if kid not in kl.package_keys:
                self.installed_keys[kid] = raw
        for kid in kl.revoked:
            self.installed_keys.pop(kid, None)
        self.package_keys.clear()
        self.package_keys.update(kl.package_keys)
        if self.key_list_path is not None:
            retired = {k: v.hex() for k, v in sorted(self.installed_keys.items())}
            atomic_write_text(self.key_list_path.with_name("retired-keys.json"), json.dumps(retired) + "\n")
            atomic_write_text(self.key_list_path, json.dumps(doc.to_json()) + "\n")
        log.info("%s: key list %d adopted", self.device_id, kl.version)

    def _maybe_adopt(self, desired: SignedDesiredState) -> None:
        if self.root is None or desired.keys is None:
            return
        doc = key_list_doc(desired.keys)
        held = self.key_list
        try:
            if held is not None and key_list_from(doc.payload).version == held.version:
                return  # the list already held
            kl = check_key_list(
                doc,
                self.root,
                current_version=held.version if held else 0,
                revoked=set(held.revoked) if held else set(),
                now=time.time(),
            )
        except (SignatureError, ValueError) as exc:
            self.refuse(f"key list refused: {exc}")
            return
        self._adopt(kl, doc)
        floor = kl.counter_reset_for(self.device_id)
        if floor is not None:  # once, with the list that carries it (a later list never repeats it)
            self.reset_counter(floor)
            log.warning(
                "%s: security counter floor reset to %d by key list %d", self.device_id, floor, kl.version
            )

    def reset_counter(self, floor: int) -> None:
        """Set the anti-rollback floor to ``floor`` (a root-signed reset); a device kind that keeps
        its counter elsewhere reports that it cannot."""
        self.refuse(f"key list: counter reset to {floor} not supported by this device")

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
        ev = device_event(self.deployment_id, etype, model, detail, progress, self.next_seq())
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
            desired = parse_signed(payload) if self.verify_desired else wire.parse(channel, payload)
        except wire.WireError as exc:
            log.warning("%s: dropped a bad message: %s", self.device_id, exc)
            return
        if self.verify_desired and not self._accept_signed(desired):
            return
        if self._desired is not None:
            while not self._desired.empty():  # only the newest desired state matters
                self._desired.get_nowait()
            self._desired.put_nowait(desired)

    def _accept_signed(self, desired: wire.DesiredState) -> bool:
        assert isinstance(desired, SignedDesiredState)
        self._maybe_adopt(desired)
        last_seq, last_sig = self.last_desired()
        if desired.signed is not None and last_sig and desired.signed.sig == last_sig:
            last_seq -= 1  # the one already accepted, delivered again (reconnect, restart): checked again
        try:
            inst = check_desired(
                desired, self.desired_keys, device_id=self.device_id, last_seq=last_seq, now=time.time()
            )
        except SignatureError as exc:
            self.refuse(f"desired state refused: {exc}")
            return False
        if self.desired_seq_path is not None:
            atomic_write_text(
                self.desired_seq_path, f"{inst.seq} {desired.signed.sig if desired.signed else ''}\n"
            )
        return True

    def refuse(self, why: str) -> None:
        """Report a refused desired state or key list; nothing else changes."""
        detail = why
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
