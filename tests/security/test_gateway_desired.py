"""The gateway checks desired states for each MCU behind it with the same code as the agent
(``FleetDevice``): with the online key configured, only fresh instructions signed for that MCU
reach its update queue; the others are refused with the reason, and the MCU keeps its sequence
state in its own folder."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agent_fake_mcu import FakeMcuLink

from tinyfleet import wire
from tinyfleet.agent.config import AgentConfig, McuConfig
from tinyfleet.agent.gateway import GatewayDevice
from tinyfleet.desired import sign_desired
from tinyfleet.signing import init_keys, load_signing_key, load_trusted_keys


def test_gateway_refuses_what_the_agent_refuses(tmp_path: Path) -> None:
    for name in ("pkg", "online", "stranger"):
        init_keys(tmp_path / name)
    online = load_signing_key(tmp_path / "online" / "tinyfleet-signing.key")
    stranger = load_signing_key(tmp_path / "stranger" / "tinyfleet-signing.key")
    pkg_keys = load_trusted_keys([tmp_path / "pkg" / "tinyfleet-signing.pub"])
    cfg = AgentConfig(
        device_id="gw-1",
        secret="unused",
        state_dir=tmp_path / "gw",
        trusted_keys=[tmp_path / "pkg" / "tinyfleet-signing.pub"],
        desired_keys=[tmp_path / "online" / "tinyfleet-signing.pub"],
        serve_http="",
    )
    gw = GatewayDevice(cfg, McuConfig("mcu-1", "s", "fake://"), lambda _m: FakeMcuLink(pkg_keys), pkg_keys)
    now = time.time()
    model = wire.DesiredModel(
        name="m", version="1.0.0", sha256="cd" * 32, size=100, security_counter=1, url="/a"
    )

    def msg(seq: int, *, device: str = "mcu-1", key: object = online, issued: float = now) -> bytes:
        d = wire.DesiredState(deployment_id=f"dep-{seq}", model=model, issued_at=issued)
        return wire.encode(sign_desired(key, device, d, seq))  # type: ignore[arg-type]

    async def run() -> list[str]:
        gw._desired = asyncio.Queue()
        taken = []
        for payload in (
            msg(5),
            msg(4),  # replayed older
            msg(6, device="mcu-2"),  # another MCU's
            msg(7, issued=now - 3 * 86400),  # expired
            msg(8, key=stranger),  # untrusted
            msg(5),  # the accepted one again: not a refusal
            msg(9),
        ):
            await gw._on_message("tf/v1/d/mcu-1/desired", payload)
            while not gw._desired.empty():
                taken.append(gw._desired.get_nowait().deployment_id)
        return taken

    assert asyncio.run(run()) == ["dep-5", "dep-5", "dep-9"]
    reasons = gw.refusals
    assert len(reasons) == 4, reasons
    for r, why in zip(reasons, ("not newer", "for device 'mcu-2'", "expired", "not trusted"), strict=True):
        assert why in r, (why, r)
    assert (tmp_path / "gw" / "mcu" / "mcu-1" / "desired.seq").read_text().split()[0] == "9"
