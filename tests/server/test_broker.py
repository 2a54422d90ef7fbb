"""The generated Mosquitto set-up, checked against the real broker: credentials and the per-device ACL.

Subscribing to another device's topic is *granted* in the SUBACK by Mosquitto 2.0, so these tests
check what is delivered, never the SUBACK.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from testkit.server import free_port
from tinyfleet.server.broker import SERVER_USER, BrokerSupervisor, hash_secret, verify_secret
from tinyfleet.server.broker.conf import ListenerTLS

SECRETS = {SERVER_USER: "server-secret", "dev-a": "secret-a", "dev-b": "secret-b"}


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerSupervisor]:
    d = Path(tempfile.mkdtemp(prefix="tinyfleet-broker-"))
    d.chmod(0o711)
    creds = [(u, hash_secret(p)) for u, p in SECRETS.items()]
    b = BrokerSupervisor(d / "broker", "127.0.0.1", free_port(), lambda: list(creds))
    b.start()
    yield b
    b.stop()
    subprocess.run(["rm", "-rf", str(d)], check=False)


class Client:
    def __init__(self, port: int, user: str, password: str) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.rc: object = None
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.monotonic_ns()}", protocol=mqtt.MQTTv5
        )
        self.c.username_pw_set(user, password)
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload))
        self.c.on_connect = self._on_connect
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _on_connect(self, _c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        self.rc = rc
        self.connected.set()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _wait(pred: object, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "dev", "s3cret"], check=True)
    stored = pw.read_text().strip().split(":", 1)[1]
    assert verify_secret(stored, "s3cret")
    assert not verify_secret(stored, "s3cret!")
    assert verify_secret(hash_secret("x"), "x") and not verify_secret("garbage", "x")


def test_wrong_password_is_refused(broker: BrokerSupervisor) -> None:
    c = Client(broker.port, "dev-a", "not-the-secret")
    assert c.connected.wait(5)
    assert getattr(c.rc, "is_failure", False)
    c.close()


def test_device_receives_only_its_own_desired_state(broker: BrokerSupervisor) -> None:
    server = Client(broker.server_port, SERVER_USER, SECRETS[SERVER_USER])
    a = Client(broker.port, "dev-a", SECRETS["dev-a"])
    b = Client(broker.port, "dev-b", SECRETS["dev-b"])
    for c in (server, a, b):
        assert c.connected.wait(5) and not getattr(c.rc, "is_failure", True)
    a.c.subscribe("tf/v1/d/dev-a/desired", qos=1)
    b.c.subscribe(
        "tf/v1/d/dev-a/desired", qos=1
    )  # another device's topic: granted in SUBACK, never delivered
    b.c.subscribe("tf/v1/d/+/desired", qos=1)
    b.c.subscribe("tf/v1/d/dev-b/desired", qos=1)
    time.sleep(0.3)
    server.c.publish("tf/v1/d/dev-a/desired", b"for-a", qos=1).wait_for_publish(5)
    server.c.publish("tf/v1/d/dev-b/desired", b"for-b", qos=1).wait_for_publish(5)
    assert _wait(lambda: a.got and len(b.got) >= 1)
    time.sleep(0.5)
    assert a.got == [("tf/v1/d/dev-a/desired", b"for-a")]
    assert set(b.got) == {("tf/v1/d/dev-b/desired", b"for-b")}  # its own, once per matching subscription
    for c in (server, a, b):
        c.close()


def test_device_cannot_publish_as_another_device(broker: BrokerSupervisor) -> None:
    server = Client(broker.server_port, SERVER_USER, SECRETS[SERVER_USER])
    a = Client(broker.port, "dev-a", SECRETS["dev-a"])
    for c in (server, a):
        assert c.connected.wait(5)
    server.c.subscribe("tf/v1/d/#", qos=1)
    time.sleep(0.3)
    for channel in ("state", "event", "hb", "tm", "online"):
        a.c.publish(f"tf/v1/d/dev-b/{channel}", b"spoof", qos=1).wait_for_publish(5)
        a.c.publish(f"tf/v1/d/dev-a/{channel}", b"mine", qos=1).wait_for_publish(5)
    a.c.publish("tf/v1/d/dev-a/desired", b"self-desired", qos=1).wait_for_publish(5)  # read-only for devices
    assert _wait(lambda: len(server.got) >= 5)
    time.sleep(0.5)
    assert sorted(t for t, _ in server.got) == sorted(
        f"tf/v1/d/dev-a/{ch}" for ch in ("state", "event", "hb", "tm", "online")
    )
    assert all(p == b"mine" for _, p in server.got)
    for c in (server, a):
        c.close()


def test_new_credentials_take_effect_on_reload(broker: BrokerSupervisor) -> None:
    added = hash_secret("secret-c")
    original = broker.credentials
    broker.credentials = lambda: [*original(), ("dev-c", added)]
    try:
        broker.reload()
        time.sleep(0.3)
        c = Client(broker.port, "dev-c", "secret-c")
        assert c.connected.wait(5) and not getattr(c.rc, "is_failure", True)
        c.close()
    finally:
        broker.credentials = original
        broker.reload()


def test_supervisor_restarts_a_crashed_broker(broker: BrokerSupervisor) -> None:
    pid = broker.pid
    assert pid is not None
    subprocess.run(["kill", "-9", str(pid)], check=True)
    assert _wait(lambda: broker.running() and broker.pid != pid, timeout=10)
    assert _wait(lambda: socket.socket().connect_ex(("127.0.0.1", broker.port)) == 0, timeout=10)
    c = Client(broker.port, "dev-a", SECRETS["dev-a"])
    assert c.connected.wait(10) and not getattr(c.rc, "is_failure", True)
    c.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "broker.crt", directory / "broker.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    for p in (cert_path, key_path):
        p.chmod(0o644)
    return cert_path, key_path


def test_tls_listener_when_a_certificate_is_configured() -> None:
    d = Path(tempfile.mkdtemp(prefix="tinyfleet-tls-"))
    d.chmod(0o711)
    cert, key = _self_signed(d)
    creds = [("dev-a", hash_secret("secret-a"))]
    b = BrokerSupervisor(
        d / "broker", "127.0.0.1", free_port(), lambda: list(creds), tls=ListenerTLS(cert, key)
    )
    b.start()
    try:
        ok = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-ok", protocol=mqtt.MQTTv5)
        ok.username_pw_set("dev-a", "secret-a")
        ok.tls_set(ca_certs=str(cert))
        ok.connect("127.0.0.1", b.port)
        ok.loop_start()
        assert _wait(ok.is_connected, 5)
        ok.disconnect()
        ok.loop_stop()
        plain = Client(b.port, "dev-a", "secret-a")  # no TLS: the broker does not speak MQTT in clear
        assert not plain.connected.wait(2) or getattr(plain.rc, "is_failure", True)
        plain.close()
    finally:
        b.stop()
        subprocess.run(["rm", "-rf", str(d)], check=False)
