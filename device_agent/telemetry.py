"""Inference telemetry: counts, errors, latency percentiles, and the drift histograms of the
contract (``tinyfleet.drift``: input bins per feature group, arg-max class counts, confidence bins).

:class:`Recorder` accumulates one period (thread-safe: the inference endpoint calls it from its
threads) and turns it into a :class:`tinyfleet.wire.Telemetry` message. For the digits model (one
feature group, 10 classes) a message stays under 512 bytes. :class:`Spool` keeps messages on disk
while the broker is unreachable — bounded: beyond ``max_messages`` the oldest are dropped (and
counted) — and hands them back in order when the link returns.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np

from tinyfleet import drift, wire
from tinyfleet.fsutil import atomic_write_bytes

__all__ = ["Recorder", "Spool"]

_LAT_RESERVOIR = 2048


class Recorder:
    def __init__(self, groups: int = 1, n_classes: int = 10) -> None:
        self._lock = threading.Lock()
        self.groups = groups
        self.n_classes = n_classes
        self._reset(time.time())

    def _reset(self, now: float) -> None:
        self._start = now
        self._n = 0
        self._err = 0
        self._lat: list[float] = []
        self._in = np.zeros((self.groups, drift.N_BINS), dtype=np.int64)
        self._cls = np.zeros(self.n_classes, dtype=np.int64)
        self._conf = np.zeros(drift.N_BINS, dtype=np.int64)
        self._lat_hist = np.zeros(drift.LAT_BINS, dtype=np.int64)
        self._model = ""

    def configure(self, groups: int, n_classes: int) -> None:
        """Bins for a new model (after a swap the counts restart)."""
        with self._lock:
            if (groups, n_classes) != (self.groups, self.n_classes):
                self.groups, self.n_classes = groups, n_classes
                self._reset(time.time())

    def record(self, x: np.ndarray, y: np.ndarray, latency_us: float, model_version: str) -> None:
        hist = drift.input_histogram(x.reshape(1, -1), self.groups)
        cls = int(np.argmax(y))
        conf_bin = (int(np.max(y.astype(np.int16))) + 128) >> 4
        with self._lock:
            self._model = model_version
            self._n += 1
            self._in += hist
            if cls < self.n_classes:
                self._cls[cls] += 1
            self._conf[conf_bin] += 1
            self._lat_hist[drift.latency_bin(latency_us)] += 1
            if len(self._lat) < _LAT_RESERVOIR:
                self._lat.append(latency_us)
            else:
                self._lat[self._n % _LAT_RESERVOIR] = latency_us

    def error(self) -> None:
        with self._lock:
            self._err += 1

    def take(self, now: float | None = None) -> wire.Telemetry | None:
        """The period's message (None if nothing happened); starts the next period."""
        t = time.time() if now is None else now
        with self._lock:
            if self._n == 0 and self._err == 0:
                self._start = t
                return None
            lat = np.array(self._lat) if self._lat else np.zeros(1)
            msg = wire.Telemetry(
                ts=round(t, 3),
                period_s=max(0.001, round(t - self._start, 3)),
                model=self._model or "0.0.0",
                n=self._n,
                err=self._err,
                lat_p50_us=round(float(np.percentile(lat, 50)), 1),
                lat_p95_us=round(float(np.percentile(lat, 95)), 1),
                input_hist=self._in.tolist(),
                cls=self._cls.tolist(),
                conf=self._conf.tolist(),
                lat=drift.trim_zeros(self._lat_hist),
            )
            self._reset(t)
            self._model = msg.model
        return msg


class Spool:
    """Bounded on-disk FIFO of encoded messages (one file each, written atomically)."""

    def __init__(self, folder: Path, max_messages: int = 2000) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self.dropped = 0
        self._lock = threading.Lock()
        existing = self._names()
        self._seq = int(existing[-1].split(".")[0]) + 1 if existing else 0

    def _names(self) -> list[str]:
        return sorted(n for n in os.listdir(self.folder) if n.endswith(".msg"))

    def __len__(self) -> int:
        return len(self._names())

    def put(self, payload: bytes) -> None:
        with self._lock:
            atomic_write_bytes(self.folder / f"{self._seq:012d}.msg", payload)
            self._seq += 1
            names = self._names()
            for old in names[: max(0, len(names) - self.max_messages)]:
                (self.folder / old).unlink(missing_ok=True)
                self.dropped += 1

    def peek(self, limit: int) -> list[tuple[str, bytes]]:
        out = []
        for name in self._names()[:limit]:
            try:
                out.append((name, (self.folder / name).read_bytes()))
            except FileNotFoundError:
                continue
        return out

    def ack(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)
