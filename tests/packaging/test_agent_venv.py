"""The slim edge agent from a clean virtual environment:

    pip install -c requirements/lock.txt '.[agent]'

installs at most 200 MB (printed), TensorFlow is not importable, `tinyfleet agent --help` works, and
the installed agent converges to a model rolled out by a real fleet server (testkit.server) and
serves it. pip's cache makes the second run fast; marked slow all the same.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit.server import running_server
from testkit.venvs import make_venv
from tinyfleet.netutil import free_port

REPO = Path(__file__).resolve().parents[2]
MAX_AGENT_INSTALL_MB = 200


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = pred()
        except httpx.HTTPError:
            got = None
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def agent_venv(tmp_path_factory: pytest.TempPathFactory, source_copy: Path) -> Path:
    venv = tmp_path_factory.mktemp("agent-venv") / "venv"
    added = make_venv(venv, source_copy, "agent")
    (venv / "added-mb").write_text(str(added))
    return venv


@pytest.mark.slow
def test_agent_extra_is_slim(agent_venv: Path) -> None:
    size = float((agent_venv / "added-mb").read_text())
    print(f"\n.[agent] installed size: {size:.0f} MB (what pip added to a new venv)")
    assert size <= MAX_AGENT_INSTALL_MB, size
    py = str(agent_venv / "bin" / "python")
    for mod in ("tensorflow", "keras", "fastapi", "sqlalchemy", "matplotlib", "pydantic"):
        r = subprocess.run([py, "-c", f"import {mod}"], capture_output=True, text=True)
        assert r.returncode != 0, f"{mod} is importable in the agent install"
    r = subprocess.run(
        [str(agent_venv / "bin" / "tinyfleet"), "agent", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "run" in r.stdout, r.stderr


@pytest.mark.slow
def test_installed_agent_follows_a_rollout(agent_venv: Path, tiny_package, tmp_path: Path) -> None:
    with running_server(key_dir=tiny_package.keys) as srv, srv.api as api:
        srv.publish_model(tiny_package.raw)
        dev = srv.add_device("pi-1", board="rpi4", tags={"site": "venv"})
        serve_port = free_port()
        secret = tmp_path / "secret"
        secret.write_text(dev["secret"])
        (tmp_path / "agent.toml").write_text(
            f"""[device]
id = "pi-1"
secret_file = "secret"
board = "rpi4"
[server]
mqtt = "127.0.0.1:{srv.broker_port}"
http = "{srv.url}"
[paths]
state_dir = "state"
trusted_keys = ["{tiny_package.keys / "tinyfleet-signing.pub"}"]
[serve]
http = "127.0.0.1:{serve_port}"
[telemetry]
period_s = 1
heartbeat_s = 1
"""
        )
        log = (tmp_path / "agent.log").open("wb")
        proc = subprocess.Popen(
            [str(agent_venv / "bin" / "tinyfleet"), "agent", "run", "--config", str(tmp_path / "agent.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            _wait(lambda: api.get("/api/v1/devices/pi-1").json()["online"], 30, "the agent online")
            r = api.post(
                "/api/v1/rollouts",
                json={
                    "model": "tiny",
                    "version": "1.0.0",
                    "target": {"selector": {"site": "venv"}},
                    "stages": [{"name": "all", "percent": 100}],
                },
            )
            assert r.status_code == 201, r.text
            _wait(
                lambda: (api.get("/api/v1/devices/pi-1").json().get("model") or {}).get("version") == "1.0.0",
                90,
                "the device on 1.0.0",
            )
            out = httpx.post(
                f"http://127.0.0.1:{serve_port}/v1/infer", json={"input": [0] * 10}, timeout=5
            ).json()
            assert out["version"] == "1.0.0" and len(out["output"]) == 10
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.close()
        assert proc.returncode == 0, (tmp_path / "agent.log").read_text()[-3000:]
