"""Install figures (printed, never asserted):

- installed size per extra: a new venv, ``pip install -c requirements/lock.txt 'SRC[extra]'``, the MB
  pip added (``TINYFLEET_BENCH_EXTRAS``, default ``agent,agent-onnx,server,firmware``; ``compiler``
  adds TensorFlow and takes minutes);
- the agent from its own ``.[agent]`` install: start-up time to systemd's ``READY=1`` (real process,
  real notify socket), its RSS then, and RSS of a process with LiteRT loaded and a model run;
- the server from its own ``.[server]`` install: RSS at idle (30 s after start, no devices), with
  its Mosquitto's RSS beside it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from testkit.tinypkg import make_tiny_package
from testkit.venvs import copy_source, make_venv
from tinyfleet.netutil import free_port

console = Console()
IDLE_S = 30.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def _agent_figures(venv: Path, work: Path) -> list[tuple[str, str]]:
    pkg = make_tiny_package(work / "pkg")
    probe = (
        "import sys, time; t0 = time.perf_counter();"
        "from pathlib import Path;"
        "from tinyfleet.agent.runtimes import load_model, self_test;"
        "import tinyfleet.agent.agent;"
        "from tinyfleet.package import read_package; from tinyfleet.signing import load_trusted_keys;"
        "m = load_model(read_package(Path(sys.argv[1]), load_trusted_keys([Path(sys.argv[2])])), 'litert');"
        "assert self_test(m)[0]; t1 = time.perf_counter();"
        "rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1];"
        "print(int(rss) / 1024, t1 - t0)"
    )
    r = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe, str(pkg.path), str(pkg.keys / "tinyfleet-signing.pub")],
        capture_output=True,
        text=True,
        check=True,
    )
    rss_model, import_s = (float(v) for v in r.stdout.split())
    (work / "agent.toml").write_text(
        f"""[device]
id = "bench-agent"
secret = "x"
[server]
mqtt = "127.0.0.1:{free_port()}"
[paths]
state_dir = "state"
trusted_keys = ["{pkg.keys / "tinyfleet-signing.pub"}"]
[serve]
http = "127.0.0.1:{free_port()}"
"""
    )
    addr = str(work / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(addr)
    sock.settimeout(30)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(venv / "bin" / "tinyfleet"), "agent", "run", "--config", str(work / "agent.toml")],
        env={**os.environ, "NOTIFY_SOCKET": addr},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=work,
    )
    try:
        while b"READY=1" not in sock.recv(4096):
            pass
        ready_s = time.perf_counter() - t0
        rss_ready = _rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        sock.close()
    return [
        ("agent start-up to READY=1 (no model yet)", f"{ready_s:.2f} s"),
        ("agent RSS at READY=1", f"{rss_ready:.1f} MB"),
        ("agent modules + LiteRT + model loaded and self-tested: RSS", f"{rss_model:.1f} MB (target ≤ 50)"),
        ("  of which import + load time", f"{import_s:.2f} s"),
    ]


def _server_figures(venv: Path, work: Path) -> list[tuple[str, str]]:
    work.chmod(0o711)
    pkg = make_tiny_package(work / "pkg")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(venv / "bin" / "tinyfleet"),
            "server",
            "--data-dir",
            str(work / "data"),
            "--port",
            str(port),
            "--broker-port",
            str(free_port()),
            "--admin-token",
            "tf_admin_bench",
            "--trusted-key",
            str(pkg.keys / "tinyfleet-signing.pub"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=work,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                    .json()
                    .get("mqtt_connected")
                ):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        time.sleep(IDLE_S)
        rss = _rss_mb(proc.pid)
        broker = sum(_rss_mb(c) for c in _children(proc.pid))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return [
        (f"server RSS at idle ({IDLE_S:.0f} s, SQLite, no devices)", f"{rss:.1f} MB"),
        ("its Mosquitto RSS", f"{broker:.1f} MB"),
    ]


def run() -> None:
    extras = os.environ.get("TINYFLEET_BENCH_EXTRAS", "agent,agent-onnx,server,firmware").split(",")
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="tf-bench-install-") as tmp:
        root = Path(tmp)
        src = copy_source(root / "src")
        venvs: dict[str, Path] = {}
        for extra in ["", *[e for e in extras if e]]:
            venv = root / f"venv-{extra or 'base'}"
            t0 = time.perf_counter()
            mb = make_venv(venv, src, extra)
            venvs[extra] = venv
            label = escape(f".[{extra}]" if extra else ". (base: contract + CLI)")
            rows.append(
                (
                    f"installed size {label}",
                    f"{mb:.0f} MB ({time.perf_counter() - t0:.0f} s with pip's cache)",
                )
            )
        if "agent" in venvs:
            (root / "agent").mkdir()
            rows += _agent_figures(venvs["agent"], root / "agent")
        if "server" in venvs:
            (root / "server").mkdir()
            rows += _server_figures(venvs["server"], root / "server")
    table = Table(title="install: size per extra, agent and server footprint")
    table.add_column("figure")
    table.add_column("measured")
    for row in rows:
        table.add_row(*row)
    console.print(table)
