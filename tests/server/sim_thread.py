"""The fleet simulator (``tinyfleet.agent.sim``) in a background thread, against a ``FleetServer``:
real MQTT devices that download, verify (signature, anti-rollback counter), install and report."""

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
        self, srv: Any, credentials: Sequence[tuple[str, str]], behaviour: Behaviour | None = None
    ) -> None:
        self.cfg = SimConfig(
            devices=len(credentials),
            host=srv.broker_host,
            port=srv.broker_port,
            credentials=list(credentials),
            board="rpi4",
            http_base=srv.url,
            trusted_keys=[Path(srv.key_dir) / "tinyfleet-signing.pub"],
            heartbeat_s=2.0,
            telemetry_s=5.0,
            step_delay_s=0.02,
            behaviour=behaviour or Behaviour(),
        )
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="sim", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self.error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with Fleet(self.cfg) as fleet:
            if not await fleet.wait_connected(timeout=30):
                raise RuntimeError(f"simulated devices did not connect: {fleet.stats()}")
            self._ready.set()
            await self._stop.wait()

    def start(self) -> SimThread:
        self.thread.start()
        if not self._ready.wait(40) or self.error is not None:
            raise RuntimeError(f"simulator did not start: {self.error!r}")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(20)
