"""Fleet server benchmark: N simulated devices (tinyfleet.agent.sim, default 10,000) against one server
process with its own Mosquitto: steady-state CPU/RSS and ingest rate with heartbeats every 10 s and
telemetry every 60 s, the peak ingest rate of a message burst, and the time a 4-stage rollout with
zero soak takes to reach every device. Figures are printed, never asserted.

``TINYFLEET_BENCH_DEVICES`` sets N; ``TINYFLEET_BENCH_STEADY_S`` the steady-state sampling time.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from testkit.server import FleetServer, running_server

CLK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _metric(srv: FleetServer, name: str, label: str = "") -> float:
    total = 0.0
    for line in httpx.get(f"{srv.url}/metrics", timeout=120).text.splitlines():
        if line.startswith(name) and label in line and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _broker_pid(srv: FleetServer) -> int | None:
    try:
        return int((srv.directory / "data" / "broker" / "mosquitto.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _wait(pred: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.5)
    return False


def _enroll(srv: FleetServer, n: int) -> list[tuple[str, str]]:
    creds: list[tuple[str, str]] = []
    with srv.api as api:
        for start in range(0, n, 2000):
            body = {
                "devices": [
                    {"id": f"sim-{i:05d}", "board": "rpi4", "tags": {"bench": "1"}}
                    for i in range(start, min(n, start + 2000))
                ]
            }
            r = api.post("/api/v1/devices/bulk", json=body, timeout=300)
            r.raise_for_status()
            creds += [(c["device_id"], c["secret"]) for c in r.json()]
        api.put("/api/v1/groups/bench", json={"name": "bench", "selector": {"bench": "1"}}).raise_for_status()
    return creds


def _burst(
    srv: FleetServer, creds: list[tuple[str, str]], threads: int = 4, per_device: int = 500
) -> tuple[int, float]:
    """Publish heartbeats as fast as possible from ``threads`` threads over many devices (each within
    its ingest token bucket, ``per_device`` <= its burst); returns (messages, seconds to ingest)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from tinyfleet import wire
    from tinyfleet.wire import Channel

    clients = []
    for device_id, secret in creds:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        c.username_pw_set(device_id, secret)
        c.max_queued_messages_set(0)
        c.connect(srv.broker_host, srv.broker_port)
        c.loop_start()
        clients.append((device_id, c))
    time.sleep(2.0)
    before = _metric(srv, "tinyfleet_mqtt_received_total", 'channel="hb"')
    payload = wire.encode(wire.Heartbeat(ts=time.time(), uptime_s=1.0))

    def blast(share: list[tuple[str, object]]) -> None:
        topics = [(wire.topic(d, Channel.HB), c) for d, c in share]
        for _ in range(per_device):
            for topic, c in topics:
                c.publish(topic, payload, qos=0)  # type: ignore[attr-defined]

    t0 = time.monotonic()
    workers = [threading.Thread(target=blast, args=(clients[i::threads],)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    total = len(clients) * per_device
    _wait(lambda: _metric(srv, "tinyfleet_mqtt_received_total", 'channel="hb"') - before >= total * 0.99, 120)
    got = int(_metric(srv, "tinyfleet_mqtt_received_total", 'channel="hb"') - before)
    elapsed = time.monotonic() - t0
    for _, c in clients:
        c.disconnect()
        c.loop_stop()
    return got, elapsed


def run() -> None:
    console = Console()
    try:
        import tinyfleet.agent.sim.fleet  # noqa: F401
    except ImportError:
        console.print("[yellow]bench server: tinyfleet.agent.sim is not available; skipped[/yellow]")
        return
    n = int(os.environ.get("TINYFLEET_BENCH_DEVICES", "10000"))
    steady_s = float(os.environ.get("TINYFLEET_BENCH_STEADY_S", "30"))
    rows: list[tuple[str, str, str]] = []
    with running_server() as srv:
        assert srv.proc is not None
        pid = srv.proc.pid
        t0 = time.monotonic()
        creds = _enroll(srv, n)
        rows.append(("enroll (bulk API)", f"{n} devices", f"{time.monotonic() - t0:.1f} s"))
        csv_path = srv.directory / "devices.csv"
        with open(csv_path, "w", newline="") as fh:
            csv.writer(fh).writerows([("device_id", "secret"), *creds])
        srv.publish_model(srv.make_package("bench", "1.0.0", 1, boards=("rpi4",)))
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tinyfleet.cli.main",
                "sim",
                "--devices",
                str(n),
                "--broker",
                f"{srv.broker_host}:{srv.broker_port}",
                "--http",
                srv.url,
                "--credentials",
                str(csv_path),
                "--pubkey",
                str(srv.key_dir / "tinyfleet-signing.pub"),
                "--board",
                "rpi4",
                "--heartbeat",
                "10",
                "--telemetry",
                "60",
                "--download",
                "shared",
                "--stats-every",
                "30",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=srv.cli_env,
        )
        try:
            t0 = time.monotonic()
            online = _wait(lambda: _metric(srv, "tinyfleet_devices_online") >= n, 300)
            rows.append(
                (
                    "devices online",
                    f"{int(_metric(srv, 'tinyfleet_devices_online'))}/{n}",
                    f"{time.monotonic() - t0:.1f} s" + ("" if online else " (timed out)"),
                )
            )
            cpu0, m0, w0 = _cpu_s(pid), _metric(srv, "tinyfleet_mqtt_received_total"), time.monotonic()
            bpid = _broker_pid(srv)
            b0 = _cpu_s(bpid) if bpid else 0.0
            time.sleep(steady_s)
            wall = time.monotonic() - w0
            rate = (_metric(srv, "tinyfleet_mqtt_received_total") - m0) / wall
            rows.append(("steady ingest (hb 10 s, tm 60 s)", f"{rate:,.0f} msg/s", f"over {wall:.0f} s"))
            rows.append(
                (
                    "server CPU / RSS",
                    f"{100 * (_cpu_s(pid) - cpu0) / wall:.0f} % of a core",
                    f"{_rss_mb(pid):.0f} MB",
                )
            )
            if bpid:
                rows.append(
                    (
                        "mosquitto CPU / RSS",
                        f"{100 * (_cpu_s(bpid) - b0) / wall:.0f} % of a core",
                        f"{_rss_mb(bpid):.0f} MB",
                    )
                )
            stages = [
                {"name": "s1", "percent": 1},
                {"name": "s10", "percent": 10},
                {"name": "s50", "percent": 50},
                {"name": "all", "percent": 100},
            ]
            with srv.api as api:
                t0 = time.monotonic()
                r = api.post(
                    "/api/v1/rollouts",
                    json={
                        "model": "bench",
                        "version": "1.0.0",
                        "target": {"group": "bench"},
                        "stages": stages,
                    },
                )
                r.raise_for_status()
                rid = r.json()["id"]
                done = _wait(
                    lambda: (
                        api.get(f"/api/v1/rollouts/{rid}", timeout=60).json()["status"]
                        in ("succeeded", "rolled_back", "aborted")
                    ),
                    600,
                )
                st = api.get(f"/api/v1/rollouts/{rid}", timeout=60).json()
            rows.append(
                (
                    "4-stage rollout, zero soak",
                    f"{st['status']}, {st['devices']['confirmed']} confirmed",
                    f"{time.monotonic() - t0:.1f} s" + ("" if done else " (timed out)"),
                )
            )
            rows.append(("server RSS after the rollout", f"{_rss_mb(pid):.0f} MB", ""))
            console.print(" | ".join(rows[-2]))  # printed as measured: a later failure keeps it
            with srv.api as api:  # devices of their own: a device's client id is its username, so
                # publishing as a simulated device would take its session over
                r = api.post(
                    "/api/v1/devices/bulk",
                    json={"devices": [{"id": f"burst-{i:03d}", "board": "rpi4"} for i in range(200)]},
                )
                r.raise_for_status()
                burst_creds = [(c["device_id"], c["secret"]) for c in r.json()]
            time.sleep(2.5)  # the broker reloads its password file
            try:
                got, secs = _burst(srv, burst_creds)
                rows.append(
                    (
                        "burst ingest (200 devices x 500, 4 threads, QoS 0 hb)",
                        f"{got / secs:,.0f} msg/s",
                        f"{got:,} msgs in {secs:.1f} s",
                    )
                )
            except httpx.HTTPError as exc:  # the server too busy to answer /metrics in time
                rows.append(
                    (
                        "burst ingest (200 devices x 500, 4 threads, QoS 0 hb)",
                        "not measured",
                        type(exc).__name__,
                    )
                )
        finally:
            sim.send_signal(signal.SIGTERM)
            try:
                sim.wait(60)
            except subprocess.TimeoutExpired:
                sim.kill()
    table = Table(title=f"fleet server, {n} simulated devices, SQLite, one process, {os.cpu_count()} cores")
    for c in ("figure", "value", "detail"):
        table.add_column(c)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print("targets: ingest >= 20,000 msg/s per process; 10,000-device rollout < 60 s; RSS < 500 MB")
    console.print(f"load average at the end: {os.getloadavg()[0]:.1f} (the simulator shares these cores)")
