"""Desired-state outbox: a device's desired state is written to the database first (in the same
transaction as the decision that made it), then published retained by this loop, which marks it
published only after the broker acknowledged it. A server killed in between publishes it again
after restart; the retained message makes a returning device converge whenever it reconnects.

Each desired state is signed for its device with the server's online key (``tinyfleet.desired``;
sequence number = the device's ``desired_rev``). A signature expires ``validity`` seconds after the
desired state's ``issued_at``, so this loop refreshes every desired state older than half of it: a
new ``issued_at`` and a new revision, published and signed like any other (a device already
running it does nothing).

With a root-signed key list in DATA_DIR/keys.json (``tinyfleet keys certify``), every desired
state carries it, so devices provisioned with the root learn rotated and revoked keys; when the
file changes, every device's desired state is published again to carry the new list."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from tinyfleet import wire
from tinyfleet.desired import DESIRED_VALIDITY_S, ONLINE_KEY_NAME, ONLINE_PUB_NAME, sign_desired
from tinyfleet.errors import SignatureError
from tinyfleet.server.bus import Bus
from tinyfleet.server.db import Database, Device
from tinyfleet.server.metrics import DESIRED_PUBLISHED
from tinyfleet.server.mqtt.client import MqttLink, wait_published
from tinyfleet.signing import key_id, load_signing_key, public_key_raw
from tinyfleet.trust import SignedDoc, key_list_from
from tinyfleet.wire import Channel

__all__ = ["KEY_LIST_NAME", "Outbox", "load_online_key"]

KEY_LIST_NAME = "keys.json"  # in the data folder: the root-signed key list devices are sent

log = logging.getLogger("tinyfleet.outbox")


def load_online_key(data_dir: Path) -> Ed25519PrivateKey:
    """The server's online key (DATA_DIR/online.key, made on first use; its public key beside it)."""
    from tinyfleet.fsutil import atomic_write_bytes, atomic_write_text

    priv, pub = data_dir / ONLINE_KEY_NAME, data_dir / ONLINE_PUB_NAME
    if not priv.exists():
        from cryptography.hazmat.primitives import serialization

        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = data_dir / f".{ONLINE_KEY_NAME}.{os.getpid()}.{threading.get_ident()}"
        atomic_write_bytes(tmp, pem, mode=0o600)
        try:
            os.link(tmp, priv)  # never replaces: two processes starting at once end up with one key
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key = load_signing_key(priv)
    text = public_key_raw(key).hex() + "\n"
    if not pub.exists() or pub.read_text("utf-8", errors="replace") != text:
        atomic_write_text(pub, text, mode=0o644)
    return key


class Outbox:
    def __init__(
        self,
        db: Database,
        link: MqttLink,
        bus: Bus,
        batch: int = 1000,
        key: Ed25519PrivateKey | None = None,
        validity: float = DESIRED_VALIDITY_S,
        key_list: Path | None = None,
    ) -> None:
        self.db, self.link, self.bus, self.batch = db, link, bus, batch
        self.key, self.validity = key, validity
        self._next_refresh = 0.0
        self.key_list_path = key_list
        self.key_list: SignedDoc | None = None
        self._key_list_stamp: tuple[int, int] | None = None
        self.kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reload_key_list(republish=False)

    def reload_key_list(self, republish: bool = True) -> bool:
        """Pick up a changed key list file; with ``republish``, send every desired state again."""
        if self.key_list_path is None:
            return False
        try:
            st = self.key_list_path.stat()
        except FileNotFoundError:
            return False
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._key_list_stamp:
            return False
        self._key_list_stamp = stamp
        try:
            doc = SignedDoc.from_json(json.loads(self.key_list_path.read_text("utf-8")))
            kl = key_list_from(doc.payload)
        except (OSError, ValueError, SignatureError) as exc:
            log.error("key list %s not used: %s", self.key_list_path, exc)
            return False
        if self.key is not None and key_id(public_key_raw(self.key)) not in kl.online_keys:
            log.error(
                "key list %d does not certify this server's online key; devices will refuse", kl.version
            )
        self.key_list = doc
        log.info("key list %d loaded", kl.version)
        if republish:
            self.refresh(time.time(), everything=True)
        return True

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
                self.reload_key_list()
                if self.key is not None and time.monotonic() >= self._next_refresh:
                    self._next_refresh = time.monotonic() + self.validity / 8
                    self.refresh(time.time())
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
            try:
                payload = b"" if desired is None else self._encode(device_id, desired, rev)
            except (SignatureError, wire.WireError) as exc:  # one bad row never stalls the others
                log.error("desired state of %s not published: %s", device_id, exc)
                done.append({"id": device_id, "rev": rev})
                continue
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

    def _encode(self, device_id: str, desired: dict[str, Any], rev: int) -> bytes:
        msg = wire.convert(desired, wire.DesiredState)
        if self.key is None:
            return wire.encode(msg)
        return wire.encode(sign_desired(self.key, device_id, msg, rev, self.validity, self.key_list))

    def refresh(self, now: float, everything: bool = False) -> int:
        """Give every desired state issued more than half a validity ago (``everything``: all) a new
        ``issued_at`` and revision (published, freshly signed, by the next round); returns how many."""
        cutoff = now + 1 if everything else now - self.validity / 2
        with self.db.session() as s:
            rows = s.execute(
                select(Device.id, Device.desired, Device.desired_rev).where(Device.desired.is_not(None))
            ).all()
            stale = [r for r in rows if isinstance(r[1], dict) and float(r[1].get("issued_at", 0)) < cutoff]
            for device_id, desired, rev in stale:
                s.execute(  # only if no newer decision replaced it meanwhile
                    update(Device)
                    .where(Device.id == device_id, Device.desired_rev == rev)
                    .values(
                        desired={**desired, "issued_at": round(now, 3)}, desired_rev=Device.desired_rev + 1
                    )
                )
        if stale:
            log.info("refreshed %d desired states before their signatures expire", len(stale))
            self.kick.set()
        return len(stale)
