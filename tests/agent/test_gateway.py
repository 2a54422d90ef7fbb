"""Gateway mode against a real Mosquitto and the HTTP artifact server, with the MCU played by
FakeMcuLink (tests/agent/agent_fake_mcu.py: the firmware's OTA semantics in Python, no serial line).

The MCU is its own fleet device (own credentials, own state/events); it converges to the desired
model, an OTA stream cut mid-way resumes where the MCU says, a package failing the golden
self-test on the MCU is reverted and reported, and inference requests reach the MCU."""

from __future__ import annotations

import httpx
from agent_fake_mcu import FakeMcuLink
from agent_running import RunningAgent

from tinyfleet import wire
from tinyfleet.agent.config import McuConfig
from tinyfleet.agent.gateway import GatewayDevice, plan_mcus
from tinyfleet.errors import UsageError
from tinyfleet.signing import load_trusted_keys

E = wire.EventType


def test_gateway_converges_resumes_and_reverts(make_config, packages, files, observer, keys_dir) -> None:
    dev = "mcu-01"
    mcu = McuConfig(dev, "mcu-secret-01", "fake://", "qemu-an386", serve_http="127.0.0.1:0")
    cfg = make_config("edge-04", mcus=[mcu])
    keys = load_trusted_keys(cfg.trusted_keys)
    link = FakeMcuLink(keys)
    gw = GatewayDevice(cfg, mcu, lambda _m: link, keys)
    with RunningAgent(cfg, agent=gw) as ra:
        st = observer.wait_state(dev, lambda s: s.kind == "mcu")
        assert st.board == "qemu-an386" and st.active is None
        observer.desire(dev, packages["v1"].desired(files.base, "gw-1"))
        observer.wait_event(dev, {E.CONFIRMED})
        st = observer.wait_state(dev, lambda s: s.update == "confirmed")
        assert (
            st.active is not None
            and st.active.version == "1.0.0"
            and st.active.sha256 == packages["v1"].sha256
        )
        assert link.counter == 1 and link.slots[link.active].state == "confirmed"

        # the serial line drops in the middle of the OTA stream: the gateway resumes
        link.fail_link_at = len(packages["v2"].raw) // 3
        begins = link.begins
        observer.desire(dev, packages["v2"].desired(files.base, "gw-2"))
        observer.wait_event(dev, {E.CONFIRMED})
        observer.wait_state(dev, lambda s: s.active is not None and s.active.version == "1.1.0")
        assert link.link_errors == 1 and link.begins == begins + 2
        installed = [e for e in observer.event_log if e[0] == dev and e[1].type is E.INSTALLED][-1][1]
        assert "1 resume" in installed.detail

        # inference is forwarded to the MCU
        r = httpx.post(f"{ra.url}/v1/infer", json={"input": [3] * 64})
        assert r.status_code == 200 and r.json()["version"] == "1.1.0" and len(r.json()["output"]) == 10

        # the golden self-test fails on the MCU: it reverts, the server sees it
        observer.desire(dev, packages["bad"].desired(files.base, "gw-bad"))
        ev = observer.wait_event(dev, {E.SELF_TEST_FAILED})
        assert "golden" in ev.detail
        observer.wait_event(dev, {E.ROLLED_BACK})
        st = observer.wait_state(dev, lambda s: s.update == "rolled_back")
        assert st.active is not None and st.active.version == "1.1.0"
        assert httpx.post(f"{ra.url}/v1/infer", json={"input": [3] * 64}).json()["version"] == "1.1.0"

        # anti-rollback is enforced before anything reaches the MCU
        observer.desire(dev, packages["old"].desired(files.base, "gw-old"))
        assert "anti-rollback" in observer.wait_event(dev, {E.VERIFY_FAILED}).detail


def test_plan_mcus_matches_serial_ports(make_config) -> None:
    a = McuConfig("mcu-02", "s", "socket://127.0.0.1:1", "qemu-an386")
    b = McuConfig("mcu-03", "s", "/dev/ttyACM0", "nano33ble")
    cfg = make_config(mcus=[a, b])
    assert plan_mcus(cfg) == [a, b]
    cfg.serial = ["/dev/ttyACM0"]
    assert plan_mcus(cfg) == [b]
    cfg.serial = ["/dev/ttyUSB9"]
    try:
        plan_mcus(cfg)
        raise AssertionError("expected UsageError")
    except UsageError as exc:
        assert "ttyUSB9" in str(exc)


def test_stream_ota_resumes_link_errors_but_not_refusals(packages, keys_dir) -> None:
    import pytest

    from tinyfleet.agent.mcu_link import McuRefused, stream_ota
    from tinyfleet.errors import DeviceError
    from tinyfleet.package import read_package

    keys = load_trusted_keys([keys_dir / "tinyfleet-signing.pub"])
    pkg = read_package(packages["v1"].raw, keys)
    header, payload = pkg.device_manifest_bytes + pkg.device_sig, pkg.ota_payload()

    link = FakeMcuLink(keys)
    link.fail_link_at = 100
    assert stream_ota(link, header, payload, chunk=64) == 1
    assert link.slots["a"].state == "pending" and bytes(link.slots["a"].data) == payload

    tampered = bytearray(payload)
    tampered[-1] ^= 1
    link = FakeMcuLink(keys)
    with pytest.raises(McuRefused, match="digest"):
        stream_ota(link, header, bytes(tampered))
    assert link.begins == 1  # a refusal is final: no resume

    link = FakeMcuLink(keys)
    link.fail_link_at = 10
    with pytest.raises(DeviceError):
        stream_ota(link, header, payload, resumes=0)
