"""Wiring of one server process: database, artifact store, broker, MQTT link, ingest, outbox, scheduler.

``Runtime.start()`` runs in the API's start-up (FastAPI lifespan) and ``stop()`` at shutdown. Each
part can be left out (``mqtt=False``) for tests of the HTTP side alone.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from tinyfleet.fsutil import atomic_write_text
from tinyfleet.server.broker import SERVER_USER, BrokerSupervisor, hash_secret, server_client_id, share_group
from tinyfleet.server.broker.conf import ListenerTLS
from tinyfleet.server.broker.dynsec import DynsecAdmin
from tinyfleet.server.bus import Bus
from tinyfleet.server.config import BrokerURL, Settings, parse_broker_url
from tinyfleet.server.db import Database, Device, migrate
from tinyfleet.server.drift.detect import DEFAULT_DETECTOR, DetectorConfig
from tinyfleet.server.drift_report import evaluate_alerts
from tinyfleet.server.metrics import BROKER_RESTARTS, DEVICES_ONLINE
from tinyfleet.server.mqtt import Ingest, MqttLink
from tinyfleet.server.mqtt.outbox import KEY_LIST_NAME, Outbox, load_online_key
from tinyfleet.server.registry import ArtifactStore
from tinyfleet.server.scheduler.loop import Scheduler, SchedulerConfig
from tinyfleet.server.tokens import ensure_admin_token
from tinyfleet.signing import load_trusted_keys

__all__ = ["Runtime"]

log = logging.getLogger("tinyfleet.server")


class Runtime:
    def __init__(self, settings: Settings, *, mqtt: bool = True) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.db_url)
        migrate(self.db)
        self.store = ArtifactStore(settings.artifact_dir or settings.data_dir / "artifacts")
        self.trusted_keys = load_trusted_keys(list(settings.trusted_keys) or None)
        self.online_key = load_online_key(settings.data_dir)  # signs desired states (docs/security.md)
        self.bus = Bus()
        self.ingest = Ingest(self.db, self.bus)
        self.mqtt_enabled = mqtt
        self.broker: BrokerSupervisor | None = None
        self.link: MqttLink | None = None  # ingest
        self.publisher: MqttLink | None = None  # desired states
        self.outbox: Outbox | None = None
        self.scheduler: Scheduler | None = None
        self.dynsec: DynsecAdmin | None = None  # device accounts in an external broker (broker_accounts)
        self._server_secret = self._load_server_secret() if settings.builtin_broker else ""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._cred_fingerprint: tuple[int, float] | None = None
        try:
            with self.db.session() as s:
                self.admin_token = ensure_admin_token(s, settings.data_dir, settings.admin_token)
        except IntegrityError:  # another process starting at the same moment made it
            self.admin_token = settings.admin_token or None

    # ---- credentials for the built-in broker ---------------------------------------------------
    def _load_server_secret(self) -> str:
        """The server's own MQTT password, kept in DATA_DIR/broker/server.secret (mode 0600) so other
        server processes can join with ``--broker mqtt://tf.server:SECRET@host:port``."""
        path = self.settings.data_dir / "broker" / "server.secret"
        try:
            secret = path.read_text("utf-8").strip()
        except FileNotFoundError:
            secret = ""
        if not secret:
            secret = secrets.token_urlsafe(24)
            atomic_write_text(path, secret + "\n", mode=0o600)
        return secret

    def _credentials(self) -> Iterable[tuple[str, str]]:
        yield SERVER_USER, hash_secret(self._server_secret)
        with self.db.session() as s:
            yield from s.execute(select(Device.id, Device.secret_hash)).tuples()

    def _fingerprint(self) -> tuple[int, float]:
        with self.db.session() as s:
            n, last = s.execute(select(func.count(), func.max(Device.enrolled_at)).select_from(Device)).one()
        return int(n), float(last or 0.0)

    def credentials_changed(self, added: Iterable[tuple[str, str]] = (), removed: Iterable[str] = ()) -> None:
        """Call after enrolling (``added``: id, plaintext secret) or removing devices: the built-in
        broker learns the new password file now; with ``broker_accounts = "dynsec"`` the external
        broker's dynamic-security plugin gets the accounts and their ACLs."""
        if self.dynsec is not None:
            self.dynsec.create_devices(added)
            self.dynsec.delete_devices(removed)
        if self.broker is not None:
            self._cred_fingerprint = self._fingerprint()
            self.broker.reload()

    def device_broker(self) -> tuple[str, int, bool]:
        """Host, port and TLS flag devices are told at enrollment."""
        st = self.settings
        if st.builtin_broker:
            return st.device_broker_host, st.broker_public_port or st.broker_port, st.tls_cert is not None
        url = parse_broker_url(st.broker)
        return st.broker_public_host or url.host, st.broker_public_port or url.port, url.tls

    def _broker_url(self) -> BrokerURL:
        st = self.settings
        if st.builtin_broker:
            port = self.broker.server_port if self.broker is not None else st.broker_port
            return BrokerURL(
                st.broker_host, port, SERVER_USER, self._server_secret, tls=st.tls_cert is not None
            )
        return parse_broker_url(st.broker)

    # ---- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        st = self.settings
        if not self.mqtt_enabled:
            return
        if st.builtin_broker:
            tls = ListenerTLS(st.tls_cert, st.tls_key) if st.tls_cert and st.tls_key else None
            self.broker = BrokerSupervisor(
                st.data_dir / "broker", st.broker_host, st.broker_port, self._credentials, st.mosquitto, tls
            )
            self.broker.start()
            self._cred_fingerprint = self._fingerprint()
        elif st.broker_accounts == "dynsec":  # accounts in an external broker (validated in preflight)
            u = self._broker_url()
            self.dynsec = DynsecAdmin(u.host, u.port, u.username or "", u.password or "", u.tls)
            self.dynsec.start()  # the server role first: the links below subscribe with it
        self.ingest.start()
        ca = st.tls_ca or st.tls_cert
        url = self._broker_url()
        # client ids are random (unguessable, so no one can take the server's session over) and the
        # shared-subscription group is derived from the server password (no device can join it)
        self.link = MqttLink(
            url,
            server_client_id("ingest"),
            self.ingest.handle,
            st.mqtt_max_inflight,
            ca_file=str(ca) if ca else None,
            share_group=share_group(url.password),
        )
        self.link.start()
        self.publisher = MqttLink(
            url,
            server_client_id("pub"),
            None,
            st.mqtt_max_inflight,
            ca_file=str(ca) if ca else None,
        )
        self.publisher.start()
        self.outbox = Outbox(
            self.db,
            self.publisher,
            self.bus,
            key=self.online_key,
            key_list=st.data_dir / KEY_LIST_NAME,
        )
        self.outbox.start()
        self._spawn(self._housekeeping, "housekeeping")
        if st.policies:  # the continuous-training loop (docs/mlops.md)
            from tinyfleet.server.policy.loop import run_policies

            self._spawn(lambda: run_policies(self, self._stop), "policies")
        self.scheduler = self.build_scheduler()
        self.scheduler.start()

    def build_scheduler(self) -> Scheduler:
        """The rollout scheduler, given only what it uses (tests drive one with ``run_once``)."""
        st = self.settings
        config = SchedulerConfig(st.scheduler_interval, st.instance_id, st.http_url, st.claim_ttl)
        return Scheduler(self.db, self.bus, config, self.outbox.kick if self.outbox is not None else None)

    def _spawn(self, target: object, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        t.start()
        self._threads.append(t)

    def _housekeeping(self) -> None:
        """Every 2 s: pick up devices enrolled by other server processes; mark devices silent for
        ``offline_after`` seconds offline; update gauges; every ``drift_interval``: drift alerts."""
        next_drift = time.monotonic() + 5.0
        next_resync = time.monotonic() + self.settings.resync_interval
        counted_restarts = 0
        while not self._stop.wait(2.0):
            try:
                if self.broker is not None:
                    restarts = self.broker.restarts
                    if restarts > counted_restarts:  # a counter: add what happened since the last look
                        BROKER_RESTARTS.inc(restarts - counted_restarts)
                        counted_restarts = restarts
                    fp = self._fingerprint()
                    if fp != self._cred_fingerprint:
                        self.credentials_changed()
                with self.db.session() as s:
                    # silent for longer than offline_after (a half-open connection the last will missed)
                    stale = time.time() - self.settings.offline_after
                    s.execute(
                        update(Device).where(Device.online, Device.last_seen < stale).values(online=False)
                    )
                    DEVICES_ONLINE.set(
                        s.scalar(select(func.count()).select_from(Device).where(Device.online)) or 0
                    )
                if self.link is not None and time.monotonic() >= next_resync:
                    next_resync = time.monotonic() + self.settings.resync_interval
                    self.link.resync()
                if time.monotonic() >= next_drift:
                    next_drift = time.monotonic() + self.settings.drift_interval
                    with self.db.session() as s:
                        cfg = DetectorConfig(
                            interval_s=self.settings.drift_interval,
                            window_s=max(DEFAULT_DETECTOR.window_s, self.settings.drift_interval),
                        )
                        for change in evaluate_alerts(s, cfg=cfg):
                            self.bus.publish("drift", change)
            except Exception:
                log.exception("housekeeping failed")

    def stop(self) -> None:
        self._stop.set()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.outbox is not None:
            self.outbox.stop()
        for link in (self.link, self.publisher):
            if link is not None:
                link.stop()
        self.ingest.stop()
        if self.dynsec is not None:
            self.dynsec.stop()
        if self.broker is not None:
            self.broker.stop()
        for t in self._threads:
            t.join(5)
        self.db.dispose()
