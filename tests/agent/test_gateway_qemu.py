"""The gateway against the emulated board: the real firmware in QEMU (hil `board` fixture), the
serial protocol client, a real Mosquitto and the HTTP artifact server. The MCU converges to the
digits model, then to a new version, refuses (and reports) a release whose golden self-test fails
on the board, and answers inference requests forwarded by the gateway."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from agent_running import RunningAgent

from tinyfleet import wire
from tinyfleet.agent.config import McuConfig
from tinyfleet.agent.gateway import GatewayDevice
from tinyfleet.agent.serial_link import SerialLink
from tinyfleet.signing import load_trusted_keys

E = wire.EventType
pytestmark = [pytest.mark.qemu, pytest.mark.slow]


def _desired(raw: bytes, name: str, version: str, counter: int, base: str, dep: str) -> wire.DesiredState:
    sha = hashlib.sha256(raw).hexdigest()
    return wire.DesiredState(
        deployment_id=dep,
        issued_at=1.0,
        model=wire.DesiredModel(
            name=name,
            version=version,
            sha256=sha,
            size=len(raw),
            security_counter=counter,
            url=f"{base}/artifacts/{sha}",
        ),
    )


def test_gateway_updates_the_emulated_board(
    board, digits_package, make_config, files, observer, tmp_path: Path
) -> None:
    releases = {
        "v1": (digits_package.package_path.read_bytes(), "1.0.0", 1),
        "v2": (Path(digits_package.variant("1.1.0", 2, out=tmp_path / "v2.tfpkg")).read_bytes(), "1.1.0", 2),
        "bad": (
            Path(
                digits_package.variant("1.2.0", 3, failing_selftest=True, out=tmp_path / "bad.tfpkg")
            ).read_bytes(),
            "1.2.0",
            3,
        ),
    }
    for raw, _v, _c in releases.values():
        files.files[hashlib.sha256(raw).hexdigest()] = raw
    dev = "mcu-02"
    mcu = McuConfig(dev, "mcu-secret-02", board.url, "qemu-an386", serve_http="127.0.0.1:0")
    cfg = make_config("edge-06", mcus=[mcu], trusted_keys=[digits_package.public_key_path])
    keys = load_trusted_keys(cfg.trusted_keys)
    gw = GatewayDevice(cfg, mcu, lambda m: SerialLink.open(m.serial), keys)

    def desire(key: str, dep: str) -> None:
        raw, version, counter = releases[key]
        observer.desire(dev, _desired(raw, "digits", version, counter, files.base, dep))

    with RunningAgent(cfg, agent=gw) as ra:
        observer.wait_state(dev, lambda s: s.kind == "mcu")
        desire("v1", "q-1")
        observer.wait_event(dev, {E.CONFIRMED}, timeout=120)
        st = observer.wait_state(dev, lambda s: s.update == "confirmed")
        assert st.active is not None and st.active.version == "1.0.0"

        desire("v2", "q-2")
        observer.wait_event(dev, {E.CONFIRMED}, timeout=120)
        st = observer.wait_state(dev, lambda s: s.update == "confirmed" and s.deployment_id == "q-2")
        assert st.active is not None and st.active.version == "1.1.0"
        r = httpx.post(f"{ra.url}/v1/infer", json={"input": [0] * 64}, timeout=10)
        assert r.status_code == 200 and r.json()["version"] == "1.1.0" and len(r.json()["output"]) == 10

        desire("bad", "q-bad")
        ev = observer.wait_event(dev, {E.SELF_TEST_FAILED}, timeout=120)
        assert ev.deployment_id == "q-bad"
        observer.wait_event(dev, {E.ROLLED_BACK}, timeout=60)
        st = observer.wait_state(dev, lambda s: s.update == "rolled_back")
        assert st.active is not None and st.active.version == "1.1.0"
        assert (
            httpx.post(f"{ra.url}/v1/infer", json={"input": [0] * 64}, timeout=10).json()["version"]
            == "1.1.0"
        )
