"""The fleet simulator (``tinyfleet.agent.sim``) running in a background thread for the browser tests:
N simulated devices, each a real MQTT client of the server's broker that downloads, verifies and
installs the packages its desired state names, and reports events, state and telemetry."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinyfleet.agent.sim.behaviour import Behaviour
from tinyfleet.agent.sim.fleet import Fleet, SimConfig


class SimThread:
    def __init__(
        self,
        srv: Any,
        credentials: Sequence[tuple[str, str]],
        board: str = "rpi4",
        behaviour: Behaviour | None = None,
    ) -> None:
        self.cfg = SimConfig(
            devices=len(credentials),
            host=srv.broker_host,
            port=srv.broker_port,
            credentials=list(credentials),
            board=board,
            http_base=srv.url,
            trusted_keys=[Path(srv.key_dir) / "tinyfleet-signing.pub"],
            heartbeat_s=2.0,
            telemetry_s=1.0,
            infer_hz=200.0,
            step_delay_s=0.05,
            behaviour=behaviour or Behaviour(),
        )
        self.loop = asyncio.new_event_loop()
        self.fleet: Fleet | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="sim", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with Fleet(self.cfg) as fleet:
            self.fleet = fleet
            if not await fleet.wait_connected(timeout=30):
                raise RuntimeError(f"simulated devices did not connect: {fleet.stats()}")
            self._ready.set()
            await self._stop.wait()

    def start(self) -> SimThread:
        self.thread.start()
        if not self._ready.wait(40) or self._error is not None:
            raise RuntimeError(f"simulator did not start: {self._error!r}")
        return self

    def stats(self) -> dict[str, Any]:
        assert self.fleet is not None
        return asyncio.run_coroutine_threadsafe(self._stats(), self.loop).result(10)

    async def _stats(self) -> dict[str, Any]:
        assert self.fleet is not None
        return self.fleet.stats()

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(20)
