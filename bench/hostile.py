"""Hostile-device benchmark (issue 11): printed figures, never asserted.

1. Ingest rate of honest devices with 1 % of the devices flooding hostile traffic (malformed,
   non-finite, oversized, spoofed, replayed) vs none, against one server process with its own
   Mosquitto (target: >= 95 % of the clean figure).
2. Time and peak memory to refuse a 10 MiB crafted package (target: < 1 s, < 50 MB above idle),
   for several crafts, in a fresh reader process and through ``POST /api/v1/models``.

``TINYFLEET_BENCH_HOSTILE_DEVICES`` (default 100), ``TINYFLEET_BENCH_HOSTILE_EVENTS`` (per device,
default 100) and ``TINYFLEET_BENCH_HOSTILE_REPEAT`` (interleaved repetitions, default 3) size part 1.
Hostile devices run in their own process at nice 19 (on a fleet a device's CPU is not the server's).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table

from testkit.crafted import overlap_bomb
from testkit.server import FleetServer, make_package, running_server
from tinyfleet.package import _encode

MIB = 1024 * 1024
REPEAT = int(os.environ.get("TINYFLEET_BENCH_HOSTILE_REPEAT", "3"))


def _metric(srv: FleetServer, name: str, label: str = "") -> float:
    total = 0.0
    for line in httpx.get(f"{srv.url}/metrics", timeout=30).text.splitlines():
        if line.startswith(name) and label in line and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _client(srv: FleetServer, user: str, secret: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, secret)
    c.max_inflight_messages_set(200)
    c.connect(srv.broker_host, srv.broker_port)
    c.loop_start()
    return c


HOSTILE = [
    b'{"v":1,"deployment_id":"x","type":"download_started","ts":NaN}',
    b"{not json",
    b"[" * 900 + b"]" * 900,
    b'{"v":1,"deployment_id":"x","type":"pwned","ts":1}',
    b'{"v":1,"deployment_id":"x","type":"confirmed","ts":1e308,"seq":18446744073709551616}',
    b'{"v":1,"deployment_id":"' + b"x" * 2100 + b'","type":"confirmed","ts":1}',
]


_FLOODER = """
import sys, time, json
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
host, port, user, secret, victim, rate = sys.argv[1:7]
payloads = [bytes.fromhex(h) for h in json.loads(sys.stdin.read())]
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
c.username_pw_set(user, secret)
c.connect(host, int(port))
c.loop_start()
print("ready", flush=True)
rate = float(rate)
i, t0 = 0, time.monotonic()
while True:
    c.publish(f"tf/v1/d/{user}/event", payloads[i % len(payloads)], qos=0)
    if i % 4 == 0:  # another device's topic: refused by the broker
        c.publish(f"tf/v1/d/{victim}/event", payloads[0], qos=0)
    i += 1
    if i % 100 == 0:
        print(i, flush=True)
    if rate > 0:
        time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
    elif i % 200 == 0:
        time.sleep(0.001)
"""


def _ingest_round(
    srv: FleetServer, honest: list[tuple[str, str]], evil: list[tuple[str, str]], events: int, rate: float
) -> dict:
    """Honest devices publish ``events`` QoS 1 events each as fast as they can; each hostile device
    (its own process) sends hostile payloads at ``rate`` msg/s (0: as fast as it can)."""
    clients = [(u, _client(srv, u, s)) for u, s in honest]
    time.sleep(1.0)
    start_count = _metric(srv, "tinyfleet_mqtt_received_total", 'channel="event"')
    dropped0 = _metric(srv, "tinyfleet_mqtt_dropped_total")
    floods = []
    for u, secret in evil:
        args = [srv.broker_host, str(srv.broker_port), u, secret, honest[0][0], str(rate)]
        # niced: on a real fleet the device's CPU is not the server's; here they share two cores
        p = subprocess.Popen(
            [sys.executable, "-c", _FLOODER, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: os.nice(19),
        )
        assert p.stdin is not None
        p.stdin.write(json.dumps([h.hex() for h in HOSTILE]))
        p.stdin.close()
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        floods.append(p)
    time.sleep(1.0)

    def work(u: str, c: mqtt.Client) -> None:
        infos = [
            c.publish(
                f"tf/v1/d/{u}/event",
                json.dumps({"v": 1, "deployment_id": "b", "type": "downloaded", "ts": k}),
                qos=1,
            )
            for k in range(events)
        ]
        for info in infos:
            info.wait_for_publish(120)

    t0 = time.perf_counter()
    workers = [threading.Thread(target=work, args=c) for c in clients]
    for t in workers:
        t.start()
    want = len(honest) * events
    got = 0.0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        got = _metric(srv, "tinyfleet_mqtt_received_total", 'channel="event"') - start_count
        if got >= want:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    sent_bad = 0
    for p in floods:
        p.terminate()
        p.wait(30)
        lines = p.stdout.read().split() if p.stdout is not None else []
        sent_bad += int(lines[-1]) if lines else 0
    for t in workers:
        t.join(30)
    for _, c in clients:
        c.disconnect()
        c.loop_stop()
    time.sleep(1.0)
    return {
        "honest_msgs": want,
        "received": int(got),
        "seconds": elapsed,
        "rate": got / elapsed,
        "hostile_sent": sent_bad,
        "dropped": _metric(srv, "tinyfleet_mqtt_dropped_total") - dropped0,
    }


def ingest_figures(console: Console) -> None:
    n = int(os.environ.get("TINYFLEET_BENCH_HOSTILE_DEVICES", "100"))
    events = int(os.environ.get("TINYFLEET_BENCH_HOSTILE_EVENTS", "100"))
    n_evil = max(1, n // 100)
    with running_server() as srv, srv.api as api:
        body = {"devices": [{"id": f"ha-{i:04d}", "board": "rpi4"} for i in range(n)]}
        body["devices"] += [{"id": f"evil-{i}", "board": "rpi4"} for i in range(n_evil)]
        creds = {c["device_id"]: c["secret"] for c in api.post("/api/v1/devices/bulk", json=body).json()}
        time.sleep(2.5)  # the broker reloads its password file
        ids = sorted(creds)
        evil = [(d, creds[d]) for d in ids if d.startswith("evil-")]
        honest = [(d, creds[d]) for d in ids if d.startswith("ha-")]
        # interleaved repetitions, medians: the machine is shared, single rounds vary by +-30 %
        runs: dict[str, list[dict]] = {"clean": [], "paced": [], "flood": []}
        per_device = 0.0
        for _ in range(REPEAT):
            runs["clean"].append(_ingest_round(srv, honest, [], events, 0))
            per_device = statistics.median(r["rate"] for r in runs["clean"]) / n
            runs["paced"].append(_ingest_round(srv, honest, evil, events, per_device))
            runs["flood"].append(_ingest_round(srv, honest, evil, events, 0))
    med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in runs.items()}
    clean, paced, flood = med["clean"], med["paced"], med["flood"]
    t = Table(
        title=f"honest ingest, {n} devices x {events} events (QoS 1); {n_evil} hostile device(s); "
        f"median of {REPEAT}"
    )
    for col in ("round", "honest msgs", "received", "s", "msg/s", "hostile sent", "dropped"):
        t.add_column(col, justify="right")
    rounds = (
        ("clean", clean),
        (f"1 % hostile at {per_device:.0f} msg/s", paced),
        ("1 % hostile flooding", flood),
    )
    for name, r in rounds:
        t.add_row(
            name,
            f"{r['honest_msgs']:.0f}",
            f"{r['received']:.0f}",
            f"{r['seconds']:.2f}",
            f"{r['rate']:,.0f}",
            f"{r['hostile_sent']:.0f}",
            f"{r['dropped']:,.0f}",
        )
    console.print(t)
    console.print(
        f"honest ingest rate vs clean: {paced['rate'] / clean['rate']:.1%} with hostile devices at an honest "
        f"rate, {flood['rate'] / clean['rate']:.1%} with them flooding (target >= 95 %)"
    )


# ---- crafted packages ----------------------------------------------------------------------------


def crafts(key_dir: Path) -> dict[str, bytes]:
    good = make_package(key_dir, "kws", "1.0.0", 1)
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    big = dict(members, **{"model.tflite": bytes(10 * MIB)})  # not the size the signed manifest names
    deflated = io.BytesIO()
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        with zf.open("zeros", "w", force_zip64=True) as out:  # ~1 MiB compressed, 1 GiB inflated
            chunk = bytes(MIB)
            for _ in range(1024):
                out.write(chunk)
    return {
        "overlap bomb, 3000 members": overlap_bomb(3000, 10 * MIB),
        "overlap bomb, 30 members": overlap_bomb(30, 10 * MIB),
        "10 MiB artifact, unsigned size": _encode(big),
        "deflate bomb (1 GiB inflated)": deflated.getvalue(),
    }


_READER = """
import sys, time, resource
from pathlib import Path
from tinyfleet.package import read_package
from tinyfleet.errors import PackageError
def rss(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
raw = Path(sys.argv[1]).read_bytes()
idle = rss("VmHWM:")
t0 = time.perf_counter()
try:
    read_package(raw, {})
    outcome = "accepted"
except PackageError as exc:
    outcome = str(exc)[:60]
print(f"{time.perf_counter() - t0:.4f}|{rss('VmHWM:') - idle:.1f}|{outcome}")
"""


def _server_rss(srv: FleetServer) -> tuple[float, float]:
    status = Path(f"/proc/{srv.proc.pid}/status").read_text().splitlines()  # type: ignore[union-attr]
    vals = {
        line.split(":")[0]: int(line.split()[1]) / 1024
        for line in status
        if line.startswith(("VmRSS", "VmHWM"))
    }
    return vals["VmRSS"], vals["VmHWM"]


def package_figures(console: Console) -> None:
    t = Table(title="refusing a crafted ~10 MiB package (the reader alone, then the server's upload)")
    for col in ("craft", "MiB", "reader s", "reader MB", "server s", "server MB", "server answer"):
        t.add_column(col, justify="right")
    reader_reasons: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, running_server() as srv:
        for name, raw in crafts(srv.key_dir).items():
            path = Path(tmp) / "crafted.tfpkg"
            path.write_bytes(raw)
            out = subprocess.run(
                [sys.executable, "-c", _READER, str(path)], capture_output=True, text=True, check=True
            ).stdout.strip()
            secs, peak, outcome = out.split("|", 2)
            idle, hwm0 = _server_rss(srv)
            t0 = time.perf_counter()
            with srv.api as api:
                r = api.post(
                    "/api/v1/models", content=raw, headers={"content-type": "application/octet-stream"}
                )
            server_s = time.perf_counter() - t0
            _, hwm1 = _server_rss(srv)
            peak_server = max(0.0, hwm1 - max(idle, hwm0)) if hwm1 > hwm0 else 0.0
            detail = str(r.json().get("detail", ""))
            t.add_row(
                name,
                f"{len(raw) / MIB:.1f}",
                secs,
                peak,
                f"{server_s:.3f}",
                f"{peak_server:.1f}",
                f"{r.status_code} {detail[:40]}",
            )
            reader_reasons.append(f"{name}: {outcome}")
    console.print(t)
    for line in reader_reasons:
        console.print(f"[dim]reader refusal, {line}[/dim]")
    console.print(
        "[dim]reader peak: VmHWM growth of a fresh process reading the bytes (already in memory); server peak: "
        "growth of the server's VmHWM over its previous high-water mark (0 = below it)[/dim]"
    )


def run() -> None:
    console = Console()
    package_figures(console)
    ingest_figures(console)


if __name__ == "__main__":
    run()
