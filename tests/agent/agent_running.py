"""Run an agent's event loop on a thread, so a test can drive it from outside like a real process."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tinyfleet.agent.agent import Agent
from tinyfleet.agent.config import AgentConfig


class RunningAgent:
    def __init__(self, cfg: AgentConfig, agent: Any = None) -> None:
        self.agent = agent if agent is not None else Agent(cfg)
        self.loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def go() -> None:
            self._stop = asyncio.Event()
            await self.agent.run(self._stop)

        try:
            self.loop.run_until_complete(go())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc

    def __enter__(self) -> RunningAgent:
        self.thread.start()
        for _ in range(200):
            if self.agent.ready.wait(0.1):
                return self
            if not self.thread.is_alive():
                break
        raise RuntimeError(f"agent did not start: {self.error}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.agent.endpoint.port}"

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(15)
        self.loop.close()
