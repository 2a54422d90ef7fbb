"""Against the real fleet server (its own Mosquitto, registry, rollouts; testkit.server): a
Linux agent and a gateway with one MCU converge to a published model through staged rollouts; a
package failing its self-test is rolled back on the device and the server sees the failure.

The MCU here is FakeMcuLink (tests/agent/agent_fake_mcu.py, no serial line); the emulated board over
serial is exercised by the demo test (tests/demo)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_fake_mcu import FakeMcuLink
from agent_running import RunningAgent

from testkit.server import running_server
from tinyfleet.agent.config import AgentConfig, McuConfig
from tinyfleet.agent.gateway import GatewayDevice
from tinyfleet.signing import load_trusted_keys


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except httpx.HTTPError:
            last = None
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _version(api: httpx.Client, dev: str) -> str | None:
    d = api.get(f"/api/v1/devices/{dev}").json()
    return (d.get("model") or {}).get("version")


@pytest.mark.slow
def test_agent_and_gateway_follow_rollouts_on_the_real_server(
    packages, keys_dir: Path, tmp_path: Path
) -> None:
    with running_server(key_dir=keys_dir) as srv:
        api = srv.api
        for key in ("v1", "v2", "bad"):
            srv.publish_model(packages[key].raw)
        edge = srv.add_device("edge-srv", board="rpi4", tags={"fleet": "agent-test"})
        mcu = srv.add_device("mcu-srv", board="qemu-an386", tags={"fleet": "agent-test"})
        cfg = AgentConfig(
            device_id="edge-srv",
            secret=edge["secret"],
            board="rpi4",
            mqtt_port=srv.broker_port,
            http_base=srv.url,
            state_dir=tmp_path / "edge",
            trusted_keys=[keys_dir / "tinyfleet-signing.pub"],
            serve_http="127.0.0.1:0",
            telemetry_period_s=1.0,
            heartbeat_period_s=1.0,
        )
        gw_cfg = AgentConfig(
            device_id="gw-srv",
            secret="unused",
            mqtt_port=srv.broker_port,
            http_base=srv.url,
            state_dir=tmp_path / "gw",
            trusted_keys=cfg.trusted_keys,
            serve_http="",
            telemetry_period_s=1.0,
            heartbeat_period_s=1.0,
        )
        mcu_cfg = McuConfig("mcu-srv", mcu["secret"], "fake://", "qemu-an386")
        keys = load_trusted_keys(cfg.trusted_keys)
        link = FakeMcuLink(keys)
        gw = GatewayDevice(gw_cfg, mcu_cfg, lambda _m: link, keys)
        with RunningAgent(cfg) as agent, RunningAgent(gw_cfg, agent=gw):
            _wait(
                lambda: all(
                    api.get(f"/api/v1/devices/{d}").json()["online"] for d in ("edge-srv", "mcu-srv")
                ),
                30,
                "both devices online",
            )

            def rollout(version: str) -> int:
                r = api.post(
                    "/api/v1/rollouts",
                    json={
                        "model": "digits",
                        "version": version,
                        "target": {"selector": {"fleet": "agent-test"}},
                        "stages": [{"name": "all", "percent": 100}],
                    },
                )
                assert r.status_code == 201, r.text
                return int(r.json()["id"])

            for version in ("1.0.0", "1.1.0"):
                rid = rollout(version)
                _wait(
                    lambda v=version: all(_version(api, d) == v for d in ("edge-srv", "mcu-srv")),
                    90,
                    f"both devices on {version}",
                )
                _wait(
                    lambda r=rid: api.get(f"/api/v1/rollouts/{r}").json()["status"] == "succeeded",
                    60,
                    f"rollout {version} succeeded",
                )
            assert httpx.post(f"{agent.url}/v1/infer", json={"input": [1] * 64}).json()["version"] == "1.1.0"

            rid = rollout("1.3.0")  # its golden vectors do not match the model
            status = _wait(
                lambda: (
                    (s := api.get(f"/api/v1/rollouts/{rid}").json())["status"]
                    in ("rolled_back", "aborted", "failed", "paused")
                    and s
                ),
                90,
                "the bad rollout to stop",
            )
            assert status["status"] != "succeeded"
            for dev in ("edge-srv", "mcu-srv"):
                events = _wait(
                    lambda d=dev: [
                        e
                        for e in api.get(f"/api/v1/devices/{d}/events").json()
                        if e.get("type") == "self_test_failed"
                    ],
                    30,
                    f"{dev}'s failure",
                )
                assert events
                assert _version(api, dev) == "1.1.0"
            assert httpx.post(f"{agent.url}/v1/infer", json={"input": [1] * 64}).json()["version"] == "1.1.0"
