"""`tinyfleet agent run` as a process: comes online, serves over HTTP and a Unix socket, leaves
cleanly on SIGTERM (online = 0); a gateway without MCUs in its config is one clear error."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinyfleet.agent.sim.broker import free_port

REPO = Path(__file__).resolve().parents[2]


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def _write_config(
    tmp_path: Path, broker_port: int, keys_dir: Path, port: int, extra: str = "", device: str = "edge-05"
) -> Path:
    cfg = tmp_path / "agent.toml"
    (tmp_path / "secret").write_text(f"secret-{device[-2:]}\n")
    cfg.write_text(
        f'[device]\nid = "{device}"\nsecret_file = "secret"\n\n[server]\nmqtt = "127.0.0.1:{broker_port}"\n\n'
        f'[paths]\nstate_dir = "state"\ntrusted_keys = ["{keys_dir / "tinyfleet-signing.pub"}"]\n\n'
        f'[serve]\nhttp = "127.0.0.1:{port}"\nunix = "agent.sock"\n\n{extra}'
    )
    return cfg


def test_agent_process_lifecycle(tmp_path: Path, broker, keys_dir: Path, observer) -> None:
    port = free_port()
    cfg = _write_config(tmp_path, broker.port, keys_dir, port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tinyfleet.cli.main", "agent", "run", "--config", str(cfg)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        observer.wait_state("edge-05", lambda s: s.kind == "linux" and s.update == "idle", timeout=30)
        deadline = time.monotonic() + 10
        while not observer.online.get("edge-05") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert observer.online.get("edge-05") is True
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 503  # no model yet
        unix = _UnixHTTP(str(tmp_path / "agent.sock"))
        unix.request("GET", "/healthz")
        assert unix.getresponse().status == 503
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        deadline = time.monotonic() + 10
        while observer.online.get("edge-05") is not False and time.monotonic() < deadline:
            time.sleep(0.1)
        assert observer.online.get("edge-05") is False
        assert not (tmp_path / "agent.sock").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--serial", "socket://127.0.0.1:9"], "gateway.devices"),
    ],
)
def test_gateway_without_devices_is_a_clear_error(
    tmp_path: Path, keys_dir: Path, args: list[str], message: str
) -> None:
    cfg = _write_config(tmp_path, 1, keys_dir, 0)
    out = subprocess.run(
        [sys.executable, "-m", "tinyfleet.cli.main", "agent", "run", "--config", str(cfg), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error:") and message in out.stderr
    assert "Traceback" not in out.stderr


def test_gateway_waits_for_an_unreachable_board(tmp_path: Path, broker, keys_dir: Path, observer) -> None:
    port = free_port()
    dead = free_port()  # nothing listens here
    cfg = _write_config(
        tmp_path,
        broker.port,
        keys_dir,
        port,
        f'[[gateway.devices]]\nid = "mcu-03"\nsecret = "mcu-secret-03"\n'
        f'serial = "socket://127.0.0.1:{dead}"\n',
        device="edge-06",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "agent",
            "run",
            "--config",
            str(cfg),
            "--serial",
            f"socket://127.0.0.1:{dead}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        observer.wait_state("edge-06", lambda s: s.kind == "linux", timeout=30)  # the board itself serves
        time.sleep(1.0)
        assert "mcu-03" not in observer.states  # the MCU is not reported until its link is up
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
