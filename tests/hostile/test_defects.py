"""Regression tests of the defects of issue 11, each against a real server and its real Mosquitto."""

from __future__ import annotations

import time
from typing import Any

import httpx
from mqttdev import Dev, connect, enroll, event, wait_until

from testkit.server import FleetServer

NAN_EVENT = b'{"v":1,"deployment_id":"x","type":"download_started","ts":NaN}'


def _events(srv: FleetServer, device_id: str) -> list[dict[str, Any]]:
    with srv.api as c:
        r = c.get(f"/api/v1/devices/{device_id}/events", params={"limit": 1000})
    r.raise_for_status()
    return list(r.json())


def test_nan_flood_does_not_blank_other_devices(fleet_server_proc: FleetServer) -> None:
    """Defect 1: 5 NaN events/s from one device; another device's 199 events are all stored."""
    srv = fleet_server_proc
    evil_c, good_c = enroll(srv, "nan", 2)
    evil, good = connect(srv, evil_c), connect(srv, good_c)
    try:
        infos = []
        for i in range(199):
            if i % 10 == 0:  # 199 events over ~4 s, the NaN message about 5 times a second
                evil.pub(f"tf/v1/d/{evil.user}/event", NAN_EVENT)
            infos.append(good.pub(f"tf/v1/d/{good.user}/event", event(ts=1000.0 + i, seq=i)))
            time.sleep(0.02)
        for info in infos:
            info.wait_for_publish(10)
        assert wait_until(lambda: len(_events(srv, good.user)) == 199, 30), len(_events(srv, good.user))
        assert {e["ts"] for e in _events(srv, good.user)} == {1000.0 + i for i in range(199)}
        # the NaN events themselves never count as events of their sender
        assert _events(srv, evil.user) == []
    finally:
        evil.close()
        good.close()


def test_health_does_not_name_the_server_client_id(fleet_server_proc: FleetServer) -> None:
    """Defect 3: the unauthenticated health answer no longer gives away the server's MQTT client id."""
    h = httpx.get(f"{fleet_server_proc.url}/api/v1/health").json()
    assert "instance" not in h
    assert h["mqtt_connected"] is True


def _server_port(srv: FleetServer) -> int:
    return int((srv.directory / "data" / "broker" / "server.port").read_text())


def test_shared_subscription_hijack_gets_nothing(fleet_server_proc: FleetServer) -> None:
    """Defect 2: devices subscribing to the ingest filters through shared subscriptions (the old
    public group and others) draw no traffic away from the server, and receive nothing."""
    srv = fleet_server_proc
    *evil_c, good_c = enroll(srv, "share", 4)
    thieves = [connect(srv, c) for c in evil_c]
    good = connect(srv, good_c)
    try:
        for k, thief in enumerate(thieves):
            for ch in ("state", "event", "hb", "tm", "online"):
                thief.sub(f"$share/{['tinyfleet', 'tf', 'server'][k]}/tf/v1/d/+/{ch}")
                thief.sub(f"$share/tinyfleet/tf/v1/d/{good.user}/{ch}")
        time.sleep(0.5)
        infos = [good.pub(f"tf/v1/d/{good.user}/event", event(ts=2000.0 + i, seq=i)) for i in range(60)]
        for info in infos:
            info.wait_for_publish(10)
        assert wait_until(lambda: len(_events(srv, good.user)) == 60, 30), len(_events(srv, good.user))
        time.sleep(0.5)
        assert all(t.got == [] for t in thieves)
        assert all(t.connected.is_set() for t in thieves)  # the subscription itself is harmless
    finally:
        for d in (*thieves, good):
            d.close()


def test_client_ids_are_bound_to_usernames(fleet_server_proc: FleetServer) -> None:
    """Defect 3: a device connecting with another device's client id, or on the server's listener
    with any id, does not disconnect the victim or the server."""
    srv = fleet_server_proc
    victim_c, evil_c = enroll(srv, "cid", 2)
    victim = connect(srv, victim_c)
    try:
        attacks = []
        for _ in range(3):
            d = Dev(srv.broker_host, srv.broker_port, evil_c["device_id"], evil_c["secret"], victim.user)
            attacks.append(d.wait())  # connected, but as itself: its client id is its username
            d.close()
        for cid in ("tf.server.ingest.0", "tinyfleet-server-x", victim.user):  # on the server listener
            d = Dev(srv.broker_host, _server_port(srv), evil_c["device_id"], evil_c["secret"], cid)
            assert wait_until(lambda d=d: d.refused is not None, 5), "device login on the server listener"
            d.close()
        time.sleep(1.0)
        assert victim.connected.is_set() and victim.disconnects == 0
        # the victim still works end to end, and the server never lost its link
        victim.pub(f"tf/v1/d/{victim.user}/event", event(ts=3000.0)).wait_for_publish(5)
        assert wait_until(lambda: len(_events(srv, victim.user)) == 1, 15)
        assert "MQTT disconnected" not in srv.log_path.read_text(errors="replace")
        assert httpx.get(f"{srv.url}/api/v1/health").json()["mqtt_connected"] is True
    finally:
        victim.close()


def test_an_oversized_packet_disconnects_only_its_sender(fleet_server_proc: FleetServer) -> None:
    """A device publishing megabytes (MQTT allows 256 MB) is disconnected by the broker before the
    message is stored or forwarded (``max_packet_size``); the server and another device go on."""
    srv = fleet_server_proc
    big_c, calm_c = enroll(srv, "big", 2)
    big, calm = connect(srv, big_c), connect(srv, calm_c)
    try:
        big.pub(f"tf/v1/d/{big.user}/event", bytes(4 * 1024 * 1024), qos=0)
        assert wait_until(lambda: big.disconnects >= 1, 15), "the broker kept the oversized sender"
        calm.pub(f"tf/v1/d/{calm.user}/event", event(ts=5000.0)).wait_for_publish(10)
        assert wait_until(lambda: len(_events(srv, calm.user)) == 1, 15)
        assert calm.disconnects == 0
        assert httpx.get(f"{srv.url}/api/v1/health").json()["mqtt_connected"] is True
        assert "MQTT disconnected" not in srv.log_path.read_text(errors="replace")
    finally:
        big.close()
        calm.close()
