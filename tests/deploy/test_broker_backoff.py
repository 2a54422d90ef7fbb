"""When the server's own Mosquitto dies and another process takes its port, the server does not
"restart" into that port (its MQTT client would talk to a stranger): it says so and waits, backing off;
once the port is free again it restarts the broker, counted in tinyfleet_broker_restarts_total."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx

from testkit.server import running_server


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


def _restarts(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("tinyfleet_broker_restarts_total "):
            return float(line.split()[1])
    return 0.0


def _wait(pred, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_broker_death_with_the_port_taken_is_waited_out(tmp_path: Path) -> None:
    with running_server() as srv:
        assert srv.proc is not None
        (mosq,) = [
            c for c in _children(srv.proc.pid) if b"mosquitto" in Path(f"/proc/{c}/cmdline").read_bytes()
        ]
        squatter = socket.socket()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        os.kill(mosq, signal.SIGKILL)
        _wait(
            lambda: (
                not Path(f"/proc/{mosq}").exists() or b"Z" in Path(f"/proc/{mosq}/stat").read_bytes()[:64]
            ),
            5,
            "the broker gone",
        )
        for _ in range(50):  # take the device port before the supervisor restarts the broker
            try:
                squatter.bind(("127.0.0.1", srv.broker_port))
                break
            except OSError:
                time.sleep(0.02)
        squatter.listen(8)
        try:
            _wait(lambda: "taken by another process" in srv.log_tail(40), 20, "the port-taken report")
            assert _restarts(srv.url) == 0
            assert httpx.get(f"{srv.url}/api/v1/health").json()["broker_running"] is False
        finally:
            squatter.close()
        _wait(lambda: httpx.get(f"{srv.url}/api/v1/health").json()["broker_running"], 60, "the broker back")
        _wait(lambda: _restarts(srv.url) >= 1, 10, "the restart counted")
        log = srv.log_tail(200)
        delays = [
            float(part.split("restarting in ")[1].split(" s")[0])
            for part in log.splitlines()
            if "restarting in" in part
        ]
        assert delays[:1] == [0.5] and all(b >= a for a, b in zip(delays, delays[1:], strict=False)), delays
