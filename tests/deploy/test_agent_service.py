"""The agent as a systemd service: the unit passes `systemd-analyze verify`, the shipped example
config loads, and the real agent speaks systemd's notify protocol (READY=1 once its endpoint
listens, WATCHDOG=1 at half the watchdog period, STOPPING=1 on SIGTERM) over a real datagram socket
standing in for systemd's."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinyfleet.agent.config import load_config
from tinyfleet.netutil import free_port
from tinyfleet.signing import init_keys

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "systemd" / "tinyfleet-agent.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_verifies(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert "Type=notify" in text and "WatchdogSec=" in text
    exe = str(Path(sys.executable).parent / "tinyfleet")
    unit = tmp_path / "tinyfleet-agent.service"
    unit.write_text(text.replace("/opt/tinyfleet/venv/bin/tinyfleet", exe))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert r.returncode == 0 and "Unknown" not in r.stderr, r.stderr


def test_example_agent_toml_loads(tmp_path: Path) -> None:
    shutil.copy(REPO / "examples" / "agent.toml", tmp_path / "agent.toml")
    (tmp_path / "secret").write_text("s3cret-from-device-add")
    init_keys(tmp_path / "keys")
    shutil.copy(tmp_path / "keys" / "tinyfleet-signing.pub", tmp_path / "tinyfleet-signing.pub")
    cfg = load_config(tmp_path / "agent.toml")
    assert cfg.device_id == "pi-kitchen" and cfg.runtime == "litert"
    assert (cfg.mqtt_host, cfg.mqtt_port) == ("127.0.0.1", 1883)
    assert cfg.http_base == "http://127.0.0.1:8080"  # where `tinyfleet server` listens by default
    assert str(cfg.state_dir) == "/var/lib/tinyfleet"  # the unit's StateDirectory


def _recv_all(sock: socket.socket, until: float) -> list[str]:
    got: list[str] = []
    while time.monotonic() < until:
        try:
            got.extend(sock.recv(4096).decode().splitlines())
        except TimeoutError:
            continue
    return got


def test_agent_notifies_systemd(tmp_path: Path) -> None:
    init_keys(tmp_path / "keys")
    port = free_port()
    (tmp_path / "agent.toml").write_text(
        f"""[device]
id = "notify-1"
secret = "x"
[server]
mqtt = "127.0.0.1:{free_port()}"
[paths]
state_dir = "state"
trusted_keys = ["keys/tinyfleet-signing.pub"]
[serve]
http = "127.0.0.1:{port}"
"""
    )
    addr = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(addr)
    sock.settimeout(0.2)
    env = {**os.environ, "NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "600000"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "agent",
            "run",
            "--config",
            str(tmp_path / "agent.toml"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        lines = _recv_all(sock, time.monotonic() + 6.0)
        assert "READY=1" in lines, (lines, proc.poll())
        ready_at = lines.index("READY=1")
        assert lines.count("WATCHDOG=1") >= 3, lines  # one every 0.3 s after start-up
        assert all(i > ready_at for i, v in enumerate(lines) if v == "WATCHDOG=1")
        assert any(v.startswith("STATUS=no model; MQTT not connected") for v in lines), lines
        proc.send_signal(signal.SIGTERM)
        tail = _recv_all(sock, time.monotonic() + 3.0)
        assert "STOPPING=1" in tail, tail
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


def test_example_gateway_toml_loads(tmp_path: Path) -> None:
    from tinyfleet.agent.gateway import plan_mcus

    shutil.copy(REPO / "examples" / "gateway.toml", tmp_path / "gateway.toml")
    (tmp_path / "gw-lab.secret").write_text("gw-secret")
    init_keys(tmp_path / "keys")
    shutil.copy(tmp_path / "keys" / "tinyfleet-signing.pub", tmp_path / "tinyfleet-signing.pub")
    cfg = load_config(tmp_path / "gateway.toml")
    (mcu,) = plan_mcus(cfg)
    assert (mcu.device_id, mcu.serial, mcu.board) == ("mcu-lab-1", "socket://127.0.0.1:5555", "qemu-an386")
    assert cfg.http_base == "http://127.0.0.1:8080" and cfg.serve_http == ""
