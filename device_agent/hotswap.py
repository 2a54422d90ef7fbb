"""Active and previous model references; swapping never drops a request.

A request reads the active reference once and runs on that model. ``swap`` makes the candidate
active and keeps the old one as ``previous`` (for an instant rollback); the model before that is
closed. A request that raced a close (it read the reference just before the swap and its model was
unloaded before it ran) gets :class:`ModelClosed` from the runtime and is re-run on the current
model, so no request fails because of a swap.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from tinyfleet.agent.runtimes import LoadedModel, ModelClosed
from tinyfleet.errors import DeviceError

__all__ = ["HotSwap", "InferenceResult", "NoModel"]


class NoModel(DeviceError):
    """No model is active yet."""


@dataclass(frozen=True)
class InferenceResult:
    output: np.ndarray
    model: LoadedModel
    latency_us: float


class HotSwap:
    def __init__(self) -> None:
        self._active: LoadedModel | None = None
        self._previous: LoadedModel | None = None
        self._lock = threading.Lock()
        self.last_swap_s = 0.0

    @property
    def active(self) -> LoadedModel | None:
        return self._active

    @property
    def previous(self) -> LoadedModel | None:
        return self._previous

    def infer(self, x: np.ndarray) -> InferenceResult:
        for _ in range(4):
            model = self._active
            if model is None:
                raise NoModel("no model is active yet")
            t0 = time.perf_counter()
            try:
                y = model.infer(x)
            except ModelClosed:
                continue
            return InferenceResult(y, model, (time.perf_counter() - t0) * 1e6)
        raise NoModel("the active model changed repeatedly during one request")

    def swap(self, candidate: LoadedModel) -> LoadedModel | None:
        """Make ``candidate`` active; returns the model it replaced (now ``previous``)."""
        t0 = time.perf_counter()
        with self._lock:
            old_prev, old = self._previous, self._active
            self._active = candidate
            self._previous = old
        if old_prev is not None and old_prev is not candidate and old_prev is not old:
            old_prev.close()
        self.last_swap_s = time.perf_counter() - t0
        return old

    def rollback(self) -> LoadedModel | None:
        """Make ``previous`` active again and unload the model that was active."""
        with self._lock:
            bad, self._active, self._previous = self._active, self._previous, None
        if bad is not None and bad is not self._active:
            bad.close()
        return self._active

    def discard(self, candidate: LoadedModel) -> None:
        """Unload a candidate that never became active."""
        if candidate is not self._active and candidate is not self._previous:
            candidate.close()
