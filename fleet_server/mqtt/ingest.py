"""Validated ingest: every inbound message is checked against the wire contract before it counts.

The MQTT thread only parses and queues (so it never waits on the database); one writer thread
drains the queue in batches, one transaction per batch. Malformed, oversized, spoofed, unknown-device
and overload messages are counted in ``tinyfleet_mqtt_dropped_total{reason}`` and dropped.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update

from tinyfleet import wire
from tinyfleet.server.bus import Bus
from tinyfleet.server.db import Database, Device, DeviceEventRow, TelemetryRow
from tinyfleet.server.metrics import INGEST_BATCH_SECONDS, MQTT_DROPPED, MQTT_RECEIVED
from tinyfleet.wire import Channel

__all__ = ["DroppedMessages", "Ingest"]

log = logging.getLogger("tinyfleet.ingest")
_DEV = cast(Table, Device.__table__)
# Core executemany: a device removed a moment ago just matches no row (the ORM would raise)
_SET_SEEN = update(_DEV).where(_DEV.c.id == bindparam("d")).values(last_seen=bindparam("t"))
_SET_ONLINE = update(_DEV).where(_DEV.c.id == bindparam("d")).values(online=bindparam("o"))
# what the scheduler's incremental snapshot reads: a device's state or OTA events changed at this time
_MAX_TOPICS = 500_000  # checked topics remembered (six channels per device; ~80 MB at the bound)
_SET_CHANGED = update(_DEV).where(_DEV.c.id == bindparam("d")).values(changed_at=bindparam("t"))
Item = tuple[str, Channel, Any, float, bool]  # device id, channel, parsed message, received at, verified


@dataclass
class DroppedMessages:
    """One device's messages refused by the wire contract (in this server process)."""

    count: int = 0
    reason: str = ""  # of the last: malformed, oversized or spoofed
    channel: str = ""
    field: str = ""  # the offending field of the last, as a path ("slots[0].state"); "" for the whole
    at: float = 0.0
    logged_at: float = 0.0


class Ingest:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        max_queue: int = 200_000,
        batch_seconds: float = 0.2,
        device_rate: float = 50.0,
        device_burst: float = 500.0,
    ) -> None:
        """``device_rate`` / ``device_burst``: each device's token bucket (messages per second, bucket
        size; rate 0 turns it off). A device above it loses only its own messages (reason ``rate``),
        so one flooding device can neither fill the shared queue (``overload`` for everyone) nor take
        more than its share of the writer. The defaults are ~100x what an agent sends (a heartbeat
        every 10 s, telemetry every 60 s, a few events per second during an update)."""
        self.db = db
        self.bus = bus
        self.batch_seconds = batch_seconds
        self.device_rate, self.device_burst = device_rate, device_burst
        self._buckets: dict[str, list[float]] = {}  # device id -> [tokens, monotonic time]; MQTT thread only
        self._queue: collections.deque[Item] = collections.deque()  # append/popleft are thread-safe
        self._max_queue = max_queue
        self._has_items = threading.Event()
        # counted here, added to the Prometheus counters by the writer (cheaper per message)
        self._received: collections.Counter[str] = collections.Counter()
        self._dropped: collections.Counter[str] = collections.Counter()
        self._known: set[str] = set()
        # topics already checked (split, id pattern, channel enum): the same few per device, every message
        self._topics: dict[str, tuple[str, Channel]] = {}
        self._known_at = 0.0
        self._known_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_batch: Callable[[], None] | None = None
        self.stats = {"received": 0, "dropped": 0, "written": 0}
        # messages the database refused, per sending device (the per-message fallback of _write)
        self.refused_by_device: collections.Counter[str] = collections.Counter()
        # messages the wire contract refused, per sending device (topic's device id; the broker's
        # ACL binds it to the sender's account)
        self.dropped_by_device: dict[str, DroppedMessages] = {}

    # ---- known devices ---------------------------------------------------------------------------
    def refresh_devices(self) -> None:
        with self.db.session() as s:
            ids = set(s.scalars(select(Device.id)))
        with self._known_lock:
            self._known = ids
            self._known_at = time.monotonic()

    def add_device(self, device_id: str) -> None:
        with self._known_lock:
            self._known.add(device_id)

    def _is_known(self, device_id: str) -> bool:
        return device_id in self._known

    # ---- MQTT thread ---------------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes, retained: bool = False) -> None:
        """Validate one message and queue it; never raises, never blocks."""
        parsed = self._topics.get(topic)
        if parsed is None:
            try:
                parsed = wire.parse_topic(topic)
            except wire.WireError:
                return self._drop("topic")
            if len(self._topics) >= _MAX_TOPICS:  # bounded: a flood of new topics cannot grow it
                self._topics.clear()
            self._topics[topic] = parsed
        device_id, channel = parsed
        if channel is Channel.DESIRED:
            return  # our own publications
        if self.device_rate > 0 and not retained and self._over_rate(device_id):
            return self._drop_from(device_id, channel, "rate", "", f"above {self.device_rate:g} msg/s")
        if len(payload) > wire.MAX_BYTES[channel]:
            return self._drop_from(device_id, channel, "oversized", "", f"{len(payload)} bytes")
        try:
            msg = wire.parse(channel, payload)
        except wire.WireError as exc:
            return self._drop_from(device_id, channel, "malformed", exc.field, str(exc))
        if isinstance(msg, wire.DeviceState) and msg.device_id != device_id:
            # a state naming another device than its topic's
            return self._drop_from(device_id, channel, "spoofed", "device_id", f"names {msg.device_id!r}")
        # a device unknown here may have been enrolled by another server process a moment ago:
        # the writer checks those against the database before using them
        if len(self._queue) >= self._max_queue:
            return self._drop("overload")
        self._queue.append((device_id, channel, msg, time.time(), device_id in self._known))
        if not self._has_items.is_set():  # set() takes a lock and notifies: once per batch, not per message
            self._has_items.set()
        self.stats["received"] += 1
        self._received[channel.value] += 1

    def _over_rate(self, device_id: str) -> bool:
        """Take one token from the device's bucket; True when it is empty (checked before parsing)."""
        now = time.monotonic()
        bucket = self._buckets.get(device_id)
        if bucket is None:
            bucket = self._buckets[device_id] = [self.device_burst, now]
        else:
            bucket[0] = min(self.device_burst, bucket[0] + (now - bucket[1]) * self.device_rate)
            bucket[1] = now
        if bucket[0] < 1.0:
            return True
        bucket[0] -= 1.0
        return False

    def _drop_from(self, device_id: str, channel: Channel, reason: str, field: str, detail: str) -> None:
        """A message the contract refuses: counted fleet-wide and for its sender, and logged with the
        device id and the offending field (at most once a minute per device, with the count since)."""
        self._drop(reason)
        now = time.time()
        rec = self.dropped_by_device.get(device_id)
        if rec is None:
            rec = self.dropped_by_device[device_id] = DroppedMessages()
        rec.count += 1
        rec.reason, rec.channel, rec.field, rec.at = reason, channel.value, field, now
        if now - rec.logged_at >= 60.0:
            log.warning(
                "device %s: %s message dropped (%s%s): %s [%d dropped from this device]",
                device_id,
                channel.value,
                reason,
                f", field {field}" if field else "",
                detail[:200],
                rec.count,
            )
            rec.logged_at = now

    def _drop(self, reason: str) -> None:
        self.stats["dropped"] += 1
        self._dropped[reason] += 1

    def _publish_counts(self) -> None:
        for counts, metric in ((self._received, MQTT_RECEIVED), (self._dropped, MQTT_DROPPED)):
            for key in list(counts):
                n = counts.pop(key, 0)
                if n:
                    metric.labels(key).inc(n)

    # ---- writer thread -------------------------------------------------------------------------
    def start(self) -> None:
        self.refresh_devices()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._publish_counts()
            if not self._has_items.wait(0.2):
                continue
            self._has_items.clear()
            time.sleep(self.batch_seconds)
            items = self._drain()
            if items:
                self._write(items)

    def _drain(self, limit: int = 50_000) -> list[Item]:
        items: list[Item] = []
        pop = self._queue.popleft
        while len(items) < limit:
            try:
                items.append(pop())
            except IndexError:
                break
        if self._queue:
            self._has_items.set()
        return items

    def flush(self) -> None:
        """Write everything queued now (tests and shutdown)."""
        items = self._drain(10**9)
        if items:
            self._write(items)
        self._publish_counts()

    def _write(self, items: list[Item]) -> None:
        started = time.perf_counter()
        try:
            changed = self._write_batch(items)
        except Exception as exc:  # noqa: BLE001 - a failed batch is retried device by device
            log.warning("ingest batch of %d messages failed (%s): retrying device by device", len(items), exc)
            changed = self._write_isolated(items)
        INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)
        for device_id in changed:  # wakes the scheduler too; heartbeats alone do not
            self.bus.publish("device", {"id": device_id})
        if self.on_batch is not None:
            self.on_batch()

    def _write_isolated(self, items: list[Item]) -> set[str]:
        """Fallback after a failed batch: one transaction per device, then per message for a device
        whose messages fail together, so a message the database refuses costs only its own sender
        (a hostile device cannot blank the batch everyone else's messages share)."""
        by_device: dict[str, list[Item]] = {}
        for it in items:
            by_device.setdefault(it[0], []).append(it)
        changed: set[str] = set()
        for device_id, own in by_device.items():
            try:
                changed |= self._write_batch(own)
                continue
            except Exception:  # noqa: BLE001 - narrowed down below
                pass
            for it in own:
                try:
                    changed |= self._write_batch([it])
                except Exception as exc:  # noqa: BLE001 - this message alone is refused
                    self._refused(device_id, it[1], exc)
        return changed

    def _refused(self, device_id: str, channel: Channel, exc: Exception) -> None:
        self.stats["dropped"] += 1
        self._dropped["db_error"] += 1
        self.refused_by_device[device_id] += 1
        log.warning(
            "device %s: %s message refused by the database (%s); dropped", device_id, channel.value, exc
        )

    def _verify(self, items: list[Item]) -> list[Item]:
        unverified = {d for d, _, _, _, ok in items if not ok}
        if not unverified:
            return items
        with self.db.session() as s:
            found = set(s.scalars(select(Device.id).where(Device.id.in_(list(unverified)))))
        with self._known_lock:
            self._known |= found
        kept = [it for it in items if it[4] or it[0] in found]
        unknown = len(items) - len(kept)
        if unknown:
            self.stats["dropped"] += unknown
            self._dropped["unknown_device"] += unknown
        return kept

    def _write_batch(self, items: list[Item]) -> set[str]:
        items = self._verify(items)
        seen: dict[str, float] = {}
        online: dict[str, bool] = {}
        states: dict[str, wire.DeviceState] = {}
        events: list[dict[str, Any]] = []
        telemetry: list[dict[str, Any]] = []
        for device_id, channel, msg, at, _ in items:
            if channel is Channel.ONLINE:
                online[device_id] = bool(msg)
                if msg:
                    seen[device_id] = at
                continue
            seen[device_id] = at
            if channel is Channel.STATE:
                prev = states.get(device_id)
                if prev is None or (msg.ts, msg.seq) >= (prev.ts, prev.seq):
                    states[device_id] = msg
            elif channel is Channel.EVENT:
                events.append(
                    {
                        "device_id": device_id,
                        "deployment_id": msg.deployment_id,
                        "type": msg.type,
                        "detail": msg.detail,
                        "progress": msg.progress,
                        "ts": msg.ts,
                        "received_at": at,
                    }
                )
            elif channel is Channel.TM:
                telemetry.append(
                    {
                        "device_id": device_id,
                        "ts": msg.ts,
                        "period_s": msg.period_s,
                        "model_version": msg.model,
                        "n": msg.n,
                        "err": msg.err,
                        "lat_p50_us": msg.lat_p50_us,
                        "lat_p95_us": msg.lat_p95_us,
                        "input_hist": msg.input_hist,
                        "cls": msg.cls,
                        "conf": msg.conf,
                        "lat_hist": msg.lat or None,
                        "received_at": at,
                    }
                )
        changed: set[str] = set()
        with self.db.session() as s:
            if seen:
                s.execute(_SET_SEEN, [{"d": d, "t": t} for d, t in seen.items()])
            if online:
                s.execute(_SET_ONLINE, [{"d": d, "o": v} for d, v in online.items()])
                changed |= set(online)
            if states:
                changed |= self._apply_states(s, states)
            if events:
                s.execute(insert(DeviceEventRow), events)
                with_events = {e["device_id"] for e in events}
                s.execute(_SET_CHANGED, [{"d": d, "t": time.time()} for d in with_events])
                changed |= with_events
            if telemetry:
                s.execute(insert(TelemetryRow), telemetry)
        self.stats["written"] += len(items)
        return changed

    @staticmethod
    def _apply_states(s: Any, states: dict[str, wire.DeviceState]) -> set[str]:
        rows = s.execute(
            select(Device.id, Device.state_ts, Device.state_seq).where(Device.id.in_(list(states)))
        ).all()
        updates = []
        for device_id, old_ts, old_seq in rows:
            st = states[device_id]
            if old_ts is not None and (st.ts, st.seq) < (old_ts, old_seq):
                continue  # an older retained copy arriving late
            active = st.active
            updates.append(
                {
                    "id": device_id,
                    "kind": st.kind,
                    "firmware": st.firmware,
                    "model_name": active.name if active else None,
                    "model_version": active.version if active else None,
                    "model_sha256": active.sha256 if active else None,
                    "security_counter": active.security_counter if active else 0,
                    "slots": [wire.to_dict(slot) for slot in st.slots],
                    "runtimes": list(st.runtimes),
                    "update_state": st.update,
                    "deployment_id": st.deployment_id,
                    "arena_budget": st.arena_budget,
                    "flash_budget": st.flash_budget,
                    "state_ts": st.ts,
                    "state_seq": st.seq,
                    "changed_at": time.time(),
                }
            )
        if updates:
            cols: dict[str, Any] = {k: bindparam(f"p_{k}") for k in updates[0] if k != "id"}
            stmt = update(_DEV).where(_DEV.c.id == bindparam("p_id")).values(**cols)
            s.execute(stmt, [{f"p_{k}": v for k, v in u.items()} for u in updates])
        return {u["id"] for u in updates}
