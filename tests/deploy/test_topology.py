"""The compose topology (deploy/compose.yaml) started natively from the same config files: two
`tinyfleet server` processes (`--config deploy/server.toml`) on one PostgreSQL database, Mosquitto with
the dynamic-security plugin (deploy/mosquitto/mosquitto.conf), and Debian's real Prometheus scraping
both replicas (deploy/prometheus/prometheus.yml with its rules). Only what a container network gives
for free is changed here: host names and ports become 127.0.0.1 and free ports, the container paths
become temporary folders, Debian's plugin path replaces the image's, and the scrape interval is 2 s.

Checked: devices enrolled through one replica get broker accounts and ACLs in the plugin (and lose
them when removed); a simulated fleet enrolled in one command connects and is seen by both replicas;
a device cannot publish on another device's topic; Prometheus scrapes both replicas, loads the alert
rules, and reads the fleet gauges."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest

from testkit.server import postgres_url  # noqa: F401  (fixture)
from testkit.tinypkg import make_tiny_package
from tinyfleet.netutil import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
ADMIN_TOKEN = "tf_admin_topology"
BROKER_ADMIN_PASSWORD = "broker-admin-topology"


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = pred()
        except (httpx.HTTPError, ValueError, KeyError):
            got = None
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


class Procs:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs: list[Any] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        self.logs.append(log)
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.folder)
        self.procs.append((name, p))
        return p

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for _name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _name, p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    yield p
    p.stop()


def _mosquitto(procs: Procs, tmp: Path) -> int:
    if not Path(DYNSEC_PLUGIN).is_file() or shutil.which("mosquitto_ctrl") is None:
        pytest.fail("Mosquitto's dynamic-security plugin and mosquitto_ctrl are needed (Debian's mosquitto)")
    data = tmp / "mosquitto"
    data.mkdir()
    data.chmod(0o777)  # Mosquitto started as root drops to its own user
    r = subprocess.run(
        [
            "mosquitto_ctrl",
            "dynsec",
            "init",
            str(data / "dynamic-security.json"),
            "tinyfleet-admin",
            BROKER_ADMIN_PASSWORD,
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    (data / "dynamic-security.json").chmod(0o666)
    port = free_port()
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    conf = conf.replace("listener 1883 0.0.0.0", f"listener {port} 127.0.0.1")
    conf = conf.replace("/mosquitto/data/", f"{data}/")
    conf = conf.replace("plugin /usr/lib/mosquitto_dynamic_security.so", f"plugin {DYNSEC_PLUGIN}")
    assert f"{data}/dynamic-security.json" in conf and f"listener {port}" in conf
    if os.geteuid() == 0:  # pytest's temporary folders are not traversable by the user mosquitto
        conf += "user root\n"
    (tmp / "mosquitto.conf").write_text(conf)
    procs.start("mosquitto", ["mosquitto", "-c", str(tmp / "mosquitto.conf")])
    _wait(lambda: _tcp_open(port), 10, "mosquitto")
    return port


def _tcp_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _server(procs: Procs, tmp: Path, name: str, db: str, broker: int, keys: Path) -> str:
    port = free_port()
    env = {
        **os.environ,
        "TINYFLEET_BROKER": f"mqtt://tinyfleet-admin:{BROKER_ADMIN_PASSWORD}@127.0.0.1:{broker}",
        "TINYFLEET_ADMIN_TOKEN": ADMIN_TOKEN,
        "TINYFLEET_DATABASE_URL": db,
        "TINYFLEET_DATA_DIR": str(tmp / name),
        "TINYFLEET_ARTIFACT_DIR": str(tmp / "artifacts"),
        "TINYFLEET_HOST": "127.0.0.1",
        "TINYFLEET_PORT": str(port),
        "TINYFLEET_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TINYFLEET_BROKER_PUBLIC_PORT": str(broker),
        "TINYFLEET_TRUSTED_KEYS": str(keys / "tinyfleet-signing.pub"),
        "PYTHONUNBUFFERED": "1",
    }
    args = [sys.executable, "-m", "tinyfleet.cli.main", "server", "--config", str(DEPLOY / "server.toml")]
    proc = procs.start(name, args, env)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited:\n{procs.log(name)}")
        return bool(httpx.get(f"{url}/api/v1/health", timeout=1).json().get("mqtt_connected"))

    _wait(healthy, 60, f"{name} healthy")
    return url


def _prometheus(procs: Procs, tmp: Path, targets: list[str]) -> str:
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus not found: `make setup` installs Debian's prometheus package")
    folder = tmp / "prometheus"
    folder.mkdir()
    conf = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    conf = conf.replace('["server-1:8080", "server-2:8080"]', json.dumps(targets))
    conf = conf.replace("scrape_interval: 15s", "scrape_interval: 2s").replace(
        "evaluation_interval: 30s", "evaluation_interval: 2s"
    )
    assert all(t in conf for t in targets)
    (folder / "prometheus.yml").write_text(conf)
    shutil.copy(DEPLOY / "prometheus" / "rules.yml", folder / "rules.yml")
    port = free_port()
    procs.start(
        "prometheus",
        [
            "prometheus",
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
    )
    url = f"http://127.0.0.1:{port}"
    _wait(lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200, 30, "prometheus ready")
    return url


def _query(prom: str, q: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": q}, timeout=5).json()
    assert r["status"] == "success", r
    return list(r["data"]["result"])


def _connect(port: int, user: str, password: str) -> tuple[mqtt.Client, Any]:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    result: dict[str, Any] = {}
    c.on_connect = lambda _c, _u, _f, rc, _p: result.setdefault("rc", rc)
    c.connect("127.0.0.1", port)
    c.loop_start()
    _wait(lambda: "rc" in result, 10, f"CONNACK for {user}")
    return c, result["rc"]


def _close(c: mqtt.Client) -> None:
    c.loop_stop()
    c.disconnect()
    sock = c.socket()
    if sock is not None:
        sock.close()


def test_native_compose_topology(procs: Procs, tmp_path: Path, postgres_url: str) -> None:  # noqa: F811
    tmp_path.chmod(0o711)
    pkg = make_tiny_package(tmp_path / "pkg")
    broker = _mosquitto(procs, tmp_path)
    s1 = _server(procs, tmp_path, "server-1", postgres_url, broker, pkg.keys)
    s2 = _server(procs, tmp_path, "server-2", postgres_url, broker, pkg.keys)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    api1 = httpx.Client(base_url=s1, headers=auth, timeout=30)
    api2 = httpx.Client(base_url=s2, headers=auth, timeout=30)

    # an account made through replica 1 works on the broker; its ACL confines it to its own topics
    r = api1.post("/api/v1/devices", json={"id": "edge-1", "board": "rpi4", "tags": {"site": "topo"}})
    assert r.status_code == 201, r.text
    creds = r.json()
    assert creds["mqtt"]["port"] == broker
    dev, rc = _connect(broker, "edge-1", creds["secret"])
    assert not rc.is_failure, rc
    ok = dev.publish("tf/v1/d/edge-1/online", b"1", qos=1, retain=True)
    ok.wait_for_publish(5)
    spoof = dev.publish("tf/v1/d/edge-2/online", b"1", qos=1, retain=True)
    spoof.wait_for_publish(5)
    assert ok.rc == 0
    # replica 2 sees the device online (ingest through the shared subscription of both replicas)
    _wait(lambda: api2.get("/api/v1/devices/edge-1").json()["online"], 20, "edge-1 online on server-2")
    assert api2.get("/api/v1/devices/edge-2").status_code == 404
    _close(dev)
    bad, rc = _connect(broker, "edge-1", "not-the-secret")
    _close(bad)
    assert rc.is_failure

    # a simulated fleet enrolled in one command through replica 2
    sim = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "sim",
            "--server",
            s2,
            "--token",
            ADMIN_TOKEN,
            "--devices",
            "3",
            "--duration",
            "6",
            "--stats-every",
            "3",
            "--heartbeat",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert sim.returncode == 0, sim.stderr[-2000:]
    assert '"connected": 3' in sim.stdout, sim.stdout

    # Prometheus scrapes both replicas with the alert rules loaded and reads the fleet gauges
    prom = _prometheus(procs, tmp_path, [s1.removeprefix("http://"), s2.removeprefix("http://")])
    ups = _wait(
        lambda: (
            (u := _query(prom, 'up{job="tinyfleet"}'))
            and len(u) == 2
            and all(x["value"][1] == "1" for x in u)
            and u
        ),
        40,
        "both replicas up",
    )
    assert {x["metric"]["instance"] for x in ups} == {s1.removeprefix("http://"), s2.removeprefix("http://")}
    rules = httpx.get(f"{prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert {r["name"] for g in rules for r in g["rules"]} >= {"TinyfleetServerDown", "TinyfleetDriftAlert"}
    enrolled = _wait(
        lambda: (
            (v := _query(prom, "sum(max without (instance) (tinyfleet_devices))"))
            and float(v[0]["value"][1]) == 4
            and v
        ),
        60,
        "4 devices in tinyfleet_devices",
    )
    assert enrolled

    # removing the device through replica 2 removes its broker account
    assert api2.delete("/api/v1/devices/edge-1").status_code == 204
    gone, rc = _connect(broker, "edge-1", creds["secret"])
    _close(gone)
    assert rc.is_failure
    api1.close()
    api2.close()
