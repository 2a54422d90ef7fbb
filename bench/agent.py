"""Agent and simulator figures (printed, never asserted):

- simulator: devices per process on this machine — N devices connect to a local Mosquitto and
  heartbeat; time to connect all, heartbeats/s delivered vs expected, process CPU and RSS;
- agent RSS with LiteRT and the digits model loaded (a separate process, as deployed);
- swap latency: the reference switch (median / p99 over 2000 swaps) and the whole verified update
  (verify → install → load → self-test → swap → confirm) of the digits package;
- telemetry bytes per message for the digits model (one period, with large counts).

``TINYFLEET_BENCH_SIM_DEVICES`` sets N (default 10000).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

console = Console()


def _rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bench_simulator(n: int, folder: Path) -> list[tuple[str, str]]:
    import paho.mqtt.client as paho

    from tinyfleet.agent.sim.broker import SERVER_USER, LocalBroker
    from tinyfleet.agent.sim.credentials import device_ids, device_secret
    from tinyfleet.agent.sim.fleet import Fleet, SimConfig

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 1024)), hard))
    seed = "bench"
    users = {d: device_secret(seed, d) for d in device_ids(n, "bench-")}
    broker = LocalBroker.create(folder / "broker", users, "bench-server")
    broker.start()
    hb_period = 10.0
    received = [0]
    obs = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-observer", protocol=paho.MQTTv5)
    obs.username_pw_set(SERVER_USER, "bench-server")
    obs.on_message = lambda *_a: received.__setitem__(0, received[0] + 1)
    obs.connect("127.0.0.1", broker.port)
    obs.subscribe("tf/v1/d/+/hb", 0)
    obs.loop_start()
    rows: list[tuple[str, str]] = []
    try:
        cfg = SimConfig(
            devices=n,
            port=broker.port,
            prefix="bench-",
            seed=seed,
            heartbeat_s=hb_period,
            telemetry_s=3600,
            connect_rate=3000,
        )

        async def go() -> None:
            rss0 = _rss_mb()
            t0 = time.monotonic()
            async with Fleet(cfg) as fleet:
                ok = await fleet.wait_connected(timeout=120)
                t_conn = time.monotonic() - t0
                rows.append(
                    (
                        "simulator devices connected",
                        f"{fleet.connected()} / {n}" + ("" if ok else " (timeout)"),
                    )
                )
                rows.append(("time to connect all", f"{t_conn:.1f} s"))
                await asyncio.sleep(2)
                r0, c0, w0 = received[0], _cpu_s(), time.monotonic()
                await asyncio.sleep(20)
                r1, c1, w1 = received[0], _cpu_s(), time.monotonic()
                rate = (r1 - r0) / (w1 - w0)
                rows.append(("heartbeats/s received (expected)", f"{rate:,.0f} ({n / hb_period:,.0f})"))
                rows.append(
                    ("simulator CPU while heartbeating", f"{100 * (c1 - c0) / (w1 - w0):.0f} % of one core")
                )
                rss = _rss_mb()
                rows.append(
                    ("simulator RSS", f"{rss:.0f} MB ({1024 * (rss - rss0) / max(1, n):.1f} KB per device)")
                )
                if broker.proc is not None:
                    rows.append(("mosquitto RSS", f"{_rss_mb(broker.proc.pid):.0f} MB"))

        asyncio.run(go())
    finally:
        obs.loop_stop()
        obs.disconnect()
        broker.stop()
    return rows


_RSS_SCRIPT = textwrap.dedent("""
    import asyncio, sys, json
    from pathlib import Path
    import numpy as np
    from tinyfleet.agent.config import AgentConfig
    from tinyfleet.agent.agent import Agent
    from tinyfleet.agent.serve import Endpoint
    state, pub = Path(sys.argv[1]), Path(sys.argv[2])
    cfg = AgentConfig(device_id="bench-agent", secret="x", state_dir=state, trusted_keys=[pub], serve_http="127.0.0.1:0")
    agent = Agent(cfg)
    asyncio.run(agent.boot())
    ep = Endpoint(agent, "127.0.0.1:0", "")
    ep.start()
    for i in range(200):
        agent.infer(np.full(64, i % 100, dtype=np.int8))
    rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]
    print(json.dumps({"rss_kb": int(rss), "version": agent.active_ref.version,
                      "onnxruntime_loaded": "onnxruntime" in sys.modules, "tensorflow_loaded": "tensorflow" in sys.modules}))
    ep.stop()
""")


def bench_agent(folder: Path) -> list[tuple[str, str]]:
    import json

    from testkit.compiler import build_digits_package
    from tinyfleet import wire
    from tinyfleet.agent.agent import Agent
    from tinyfleet.agent.config import AgentConfig
    from tinyfleet.agent.hotswap import HotSwap
    from tinyfleet.agent.install import SlotStore
    from tinyfleet.agent.runtimes import load_model
    from tinyfleet.agent.telemetry import Recorder
    from tinyfleet.package import read_package

    console.print("building the digits package (real pipeline)…")
    digits = build_digits_package(folder / "digits")
    raw = digits.package_path.read_bytes()
    rows: list[tuple[str, str]] = []

    # agent RSS with LiteRT and the digits model loaded, in its own process
    state = folder / "agent-state"
    slots = SlotStore(state)
    slots.install("a", raw)
    slots.switch("a")
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(state), str(digits.public_key_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    info = json.loads(out.stdout.strip().splitlines()[-1])
    rows.append(
        ("agent RSS, LiteRT + digits loaded, endpoint up", f"{info['rss_kb'] / 1024:.1f} MB (target < 60)")
    )
    rows.append(
        ("  onnxruntime / tensorflow imported", f"{info['onnxruntime_loaded']} / {info['tensorflow_loaded']}")
    )
    for label, code in (
        ("  of which: python + numpy", "import numpy"),
        ("  of which: + tinyfleet.wire (msgspec structs)", "import numpy, tinyfleet.wire"),
        (
            "  of which: + package/signing, paho-mqtt, agent",
            "import tinyfleet.agent.agent, tinyfleet.agent.serve",
        ),
        (
            "  of which: + ai_edge_litert",
            "import tinyfleet.agent.agent, tinyfleet.agent.serve, ai_edge_litert.interpreter",
        ),
    ):
        probe = (
            code + "; print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])"
        )
        kb = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        rows.append((label, f"{int(kb.split()[-1]) / 1024:.1f} MB"))

    # swap latency: the reference switch
    pkg = read_package(raw, digits.trusted_keys)
    a, b = load_model(pkg, "litert"), load_model(pkg, "litert")
    hs = HotSwap()
    times = []
    for i in range(2000):
        hs._previous = None  # keep both models loaded: measure the switch, not an unload
        t0 = time.perf_counter()
        hs.swap(a if i % 2 else b)
        times.append(time.perf_counter() - t0)
    us = np.array(times) * 1e6
    rows.append(
        ("swap (reference switch)", f"median {np.median(us):.1f} µs, p99 {np.percentile(us, 99):.1f} µs")
    )

    # the whole verified update, from a downloaded file
    agent = Agent(
        AgentConfig(
            device_id="bench-upd",
            secret="x",
            state_dir=folder / "upd",
            trusted_keys=[digits.public_key_path],
            serve_http="",
        )
    )
    v2 = digits.variant("1.0.1", 2)
    sha = hashlib.sha256(v2.read_bytes()).hexdigest()
    dl = folder / "upd" / "downloads" / f"{sha}.tfpkg"
    dl.parent.mkdir(parents=True, exist_ok=True)
    dl.write_bytes(v2.read_bytes())
    desired = wire.DesiredState(
        deployment_id="bench",
        issued_at=0,
        model=wire.DesiredModel(
            name=pkg.name,
            version="1.0.1",
            sha256=sha,
            size=dl.stat().st_size,
            security_counter=2,
            url="file-already-downloaded",
        ),
    )

    async def update() -> float:
        await agent.boot()
        t0 = time.perf_counter()
        step = await agent.update(desired)
        assert step is not None and step.value == "done", step
        return time.perf_counter() - t0

    rows.append(
        ("verified update of digits (file already downloaded)", f"{asyncio.run(update()) * 1e3:.0f} ms")
    )

    # telemetry bytes per message for the digits model
    x = np.load(digits.out_dir / "data.npz")["x_val"]
    rec = Recorder(groups=1, n_classes=10)
    for row in x.reshape(len(x), -1):
        q = a.input.quantize(row)
        rec.record(q, a.infer(q), 150.0, pkg.version)
    m1 = rec.take()
    assert m1 is not None
    rows.append((f"telemetry bytes per message (digits, {m1.n} inferences)", f"{len(wire.encode(m1))}"))
    for row in x.reshape(len(x), -1):
        q = a.input.quantize(row)
        rec.record(q, a.infer(q), 150.0, pkg.version)
    # a busy period: the same shape of counts, a thousand times larger (six- and seven-digit numbers)
    rec._n *= 1000
    rec._in *= 1000
    rec._cls *= 1000
    rec._conf *= 1000
    m2 = rec.take()
    assert m2 is not None
    rows.append(
        (f"telemetry bytes per message (digits, {m2.n:,} inferences)", f"{len(wire.encode(m2))} (limit 512)")
    )
    return rows


def run() -> None:
    n = int(os.environ.get("TINYFLEET_BENCH_SIM_DEVICES", "10000"))
    table = Table(title="device agent and simulator")
    table.add_column("figure")
    table.add_column("value", justify="right")
    with tempfile.TemporaryDirectory(prefix="tinyfleet-bench-agent-") as tmp:
        folder = Path(tmp)
        # the simulator first: its process RSS is then the simulator's, not TensorFlow's (digits build)
        for name, value in bench_simulator(n, folder):
            table.add_row(name, value)
        for name, value in bench_agent(folder):
            table.add_row(name, value)
    console.print(table)


if __name__ == "__main__":
    run()
