"""The README's quick tour, command by command, as a newcomer runs it — with the default MQTT port
already taken by another Mosquitto (as on many machines).

The commands are read from the README's two ``sh`` blocks under "A quick tour of the CLI" (README and
test cannot drift apart). The test runs in an empty folder with its own HOME (keys, server state) and
an `examples` link to the repository's. It first checks that `tinyfleet server` on the taken port
stops with one line naming it; then it follows the README's advice and picks free ports in the
`export` line. Lines ending in `&` run in the background (the server is waited for). At the end the
edge agent runs the model the rollout sent it, and the simulated devices are enrolled and online.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tinyfleet.netutil import free_port

pytestmark = [pytest.mark.slow, pytest.mark.qemu]

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def tour_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## A quick tour of the CLI", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```sh\n")[1:]]
    assert len(blocks) == 2, "the tour has an offline and a fleet block"
    lines = []
    for block in blocks:
        for raw in block.splitlines():
            line = raw.split("  #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def other_mosquitto(tmp_path: Path) -> Iterator[None]:
    """Port 1883 held by a Mosquitto that is not ours (started here when nothing holds it yet)."""
    proc = None
    if not _port_taken(1883):
        conf = tmp_path / "other-mosquitto.conf"
        conf.write_text("listener 1883 127.0.0.1\nallow_anonymous true\n")
        proc = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not _port_taken(1883) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert _port_taken(1883)
    yield
    if proc is not None:
        proc.terminate()
        proc.wait(10)


def test_readme_tour(tmp_path: Path, other_mosquitto: None) -> None:
    work = tmp_path / "clone"
    work.mkdir()
    (work / "examples").symlink_to(REPO / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TINYFLEET_", "XDG_DATA_HOME"))}
    env.update(HOME=str(tmp_path / "home"), PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}")
    env["PLATFORMIO_CORE_DIR"] = str(REPO / ".cache" / "platformio")  # the repository's offline PlatformIO
    commands = tour_commands()
    background: list[subprocess.Popen[bytes]] = []
    logs = []

    def run(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            shlex.split(line), cwd=work, env=env, capture_output=True, text=True, timeout=900
        )

    # the newcomer's first try: the default broker port is taken -> one clear line, no traceback
    if not _port_taken(8080):
        first = subprocess.run(
            ["tinyfleet", "server"], cwd=work, env=env, capture_output=True, text=True, timeout=60
        )
        assert first.returncode != 0
        last = first.stderr.strip().splitlines()[-1]  # after the start-up log lines: one error line
        assert last.startswith("error:") and "1883" in last and "in use" in last, first.stderr
        assert [ln for ln in first.stderr.splitlines() if ln.startswith("error:")] == [last]
        assert "Traceback" not in first.stderr

    server = ""
    try:
        for line in commands:
            if line.startswith("source "):
                continue  # PATH already has the virtual environment's bin
            if line.startswith("export "):
                # "pick others": free ports instead of the defaults, as the README says
                http, mqtt_port = free_port(), free_port()
                values = dict(kv.split("=", 1) for kv in shlex.split(line)[1:])
                assert set(values) == {"TINYFLEET_PORT", "TINYFLEET_BROKER_PORT", "TINYFLEET_SERVER"}
                env.update(
                    TINYFLEET_PORT=str(http),
                    TINYFLEET_BROKER_PORT=str(mqtt_port),
                    TINYFLEET_SERVER=f"http://127.0.0.1:{http}",
                )
                server = env["TINYFLEET_SERVER"]
                continue
            if line.endswith("&"):
                cmd = line[:-1].strip()
                log = (tmp_path / f"bg{len(background)}.log").open("wb")
                logs.append(log)
                background.append(
                    subprocess.Popen(
                        shlex.split(cmd), cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
                if cmd.startswith("tinyfleet server"):
                    for _attempt in range(3):  # another process on this busy machine may take a port first
                        log_path = tmp_path / f"bg{len(background) - 1}.log"
                        if _wait_healthy(server, background[-1], log_path):
                            break
                        assert "in use" in log_path.read_text(), log_path.read_text()[-3000:]
                        http = free_port()
                        env.update(
                            TINYFLEET_PORT=str(http),
                            TINYFLEET_BROKER_PORT=str(free_port()),
                            TINYFLEET_SERVER=f"http://127.0.0.1:{http}",
                        )
                        server = env["TINYFLEET_SERVER"]
                        log = (tmp_path / f"bg{len(background)}.log").open("wb")
                        logs.append(log)
                        background.append(
                            subprocess.Popen(
                                shlex.split(cmd), cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
                            )
                        )
                    else:
                        raise AssertionError("the server did not start on free ports three times")
                continue
            r = run(line)
            assert r.returncode == 0, f"{line}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
            if "--json" in line:
                json.loads(r.stdout)

        token = (tmp_path / "home" / ".local" / "share" / "tinyfleet" / "admin.token").read_text().strip()
        api = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        deadline = time.monotonic() + 180
        pi = {}
        while time.monotonic() < deadline:
            pi = api.get("/api/v1/devices/pi-1").json()
            if (pi.get("model") or {}).get("version") == "1.0.0":
                break
            time.sleep(1)
        assert (pi.get("model") or {}).get("version") == "1.0.0", pi
        devices = api.get("/api/v1/devices").json()
        assert len([d for d in devices if d["id"].startswith("sim-")]) == 20
        api.close()
    finally:
        for p in reversed(background):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(background):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
    # nothing of the tour landed in the working folder but its run outputs
    assert sorted(p.name for p in work.iterdir()) == ["examples", "runs"]


def _wait_healthy(server: str, proc: subprocess.Popen[bytes], log: Path) -> bool:
    """True once healthy; False when it exited because a port was in use (a race with another process)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if "in use" in log.read_text():
                return False
            raise AssertionError(f"tinyfleet server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server}/api/v1/health", timeout=1).json().get("mqtt_connected"):
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"tinyfleet server not healthy:\n{log.read_text()[-3000:]}")
