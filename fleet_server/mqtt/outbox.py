"""Desired-state outbox: a device's desired state is written to the database first (in the same
transaction as the decision that made it), then published retained by this loop, which marks it
published only after the broker acknowledged it. A server killed in between publishes it again
after restart; the retained message makes a returning device converge whenever it reconnects."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select, update

from tinyfleet import wire
from tinyfleet.server.bus import Bus
from tinyfleet.server.db import Database, Device
from tinyfleet.server.metrics import DESIRED_PUBLISHED
from tinyfleet.server.mqtt.client import MqttLink, wait_published
from tinyfleet.wire import Channel

__all__ = ["Outbox"]

log = logging.getLogger("tinyfleet.outbox")


class Outbox:
    def __init__(self, db: Database, link: MqttLink, bus: Bus, batch: int = 1000) -> None:
        self.db, self.link, self.bus, self.batch = db, link, bus, batch
        self.kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="desired-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.kick.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.kick.wait(0.5)
            self.kick.clear()
            try:
                while (
                    not self._stop.is_set()
                    and self.link.connected.is_set()
                    and self.publish_pending() >= self.batch
                ):
                    pass
            except Exception:
                log.exception("desired-state publishing failed")

    def publish_pending(self) -> int:
        """Publish one batch of unpublished desired states; returns how many were pending in it."""
        with self.db.session() as s:
            rows = s.execute(
                select(Device.id, Device.desired, Device.desired_rev)
                .where(Device.published_rev < Device.desired_rev)
                .limit(self.batch)
            ).all()
        if not rows:
            return 0
        infos, done = [], []
        for device_id, desired, rev in rows:
            payload = b"" if desired is None else wire.encode(wire.convert(desired, wire.DesiredState))
            infos.append(
                self.link.publish(wire.topic(device_id, Channel.DESIRED), payload, retain=True, qos=1)
            )
            done.append({"id": device_id, "rev": rev})
        if not wait_published(infos, 30.0):
            log.warning("broker did not acknowledge %d desired states in time; will retry", len(infos))
            return 0
        with self.db.session() as s:
            for d in done:
                s.execute(
                    update(Device)
                    .where(Device.id == d["id"], Device.published_rev < d["rev"])
                    .values(published_rev=d["rev"])
                )
        DESIRED_PUBLISHED.inc(len(done))
        return len(rows)
