"""In-process change notifications: threads publish, server-sent-event streams and the scheduler listen."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Bus", "Change"]


@dataclass(frozen=True)
class Change:
    kind: str  # "device", "rollout", "model", "drift"
    data: dict[str, Any]
    ts: float = field(default_factory=time.time)


class Bus:
    def __init__(self, max_queue: int = 1000) -> None:
        self._lock = threading.Lock()
        self._subs: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Change]]] = []
        self._max = max_queue
        self.wake = threading.Event()  # set on anything the scheduler may care about

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        change = Change(kind, data)
        self.wake.set()
        with self._lock:
            subs = list(self._subs)
        for loop, queue in subs:
            try:
                loop.call_soon_threadsafe(_offer, queue, change)
            except RuntimeError:  # loop closed: the stream went away
                self.unsubscribe(queue)

    def subscribe(self) -> asyncio.Queue[Change]:
        queue: asyncio.Queue[Change] = asyncio.Queue(self._max)
        with self._lock:
            self._subs.append((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Change]) -> None:
        with self._lock:
            self._subs = [(loop, q) for loop, q in self._subs if q is not queue]


def _offer(queue: asyncio.Queue[Change], change: Change) -> None:
    if queue.full():  # a slow reader loses the oldest change, never stalls publishers
        queue.get_nowait()
    queue.put_nowait(change)
