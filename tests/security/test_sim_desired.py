"""The simulator (`tinyfleet sim --desired-key`) applies the agent's checks to desired states: a
fresh one signed for the simulated device is taken, replayed/foreign/expired/untrusted ones are
refused and counted."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tinyfleet import wire
from tinyfleet.agent.sim.fleet import Fleet, SimConfig
from tinyfleet.desired import sign_desired
from tinyfleet.signing import init_keys, load_signing_key


def test_simulated_devices_refuse_bad_desired_states(tmp_path: Path) -> None:
    for name in ("online", "stranger"):
        init_keys(tmp_path / name)
    online = load_signing_key(tmp_path / "online" / "tinyfleet-signing.key")
    stranger = load_signing_key(tmp_path / "stranger" / "tinyfleet-signing.key")
    now = time.time()

    def msg(seq: int, *, device: str = "sim-0", key: object = online, issued: float = now) -> bytes:
        d = wire.DesiredState(deployment_id=f"dep-{seq}", issued_at=issued)  # no model: nothing to run
        return wire.encode(sign_desired(key, device, d, seq))  # type: ignore[arg-type]

    async def run() -> tuple[int, int]:
        fleet = Fleet(
            SimConfig(
                devices=1,
                credentials=[("sim-0", "s")],
                desired_keys=[tmp_path / "online" / "tinyfleet-signing.pub"],
            )
        )
        dev = fleet.devices[0]
        for payload in (
            msg(3),
            msg(2),
            msg(4, device="sim-1"),
            msg(5, issued=now - 3 * 86400),
            msg(6, key=stranger),
            msg(3),
        ):
            await dev._on_message("tf/v1/d/sim-0/desired", payload)
        await asyncio.sleep(0.1)
        await fleet.http.aclose()
        return dev.desired_seq, fleet.counters["desired_refused"]

    assert asyncio.run(run()) == (3, 4)
