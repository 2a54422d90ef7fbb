"""Capture on the device: pick samples from the inference stream by the request's trigger, upload them.

A Linux agent offers every inference it runs; a gateway offers the samples its MCU's capture buffer
returns; the simulator offers the inputs of its data source run through the model. Each request keeps
at most ``count`` samples:

- ``random``: a uniform sample of everything offered (reservoir sampling, seeded);
- ``low_confidence``: the first ``count`` samples whose top int8 output is below the request's
  threshold (the server converts the probability into the model's output quantization);
- ``drift``: the ``count`` samples most typical of the drift — highest mean log-ratio of their input
  bins between what this device has seen so far and the package's drift baseline (the bins of
  ``tinyfleet.drift``), so samples from the over-represented input ranges win.

The upload is one batch in the format of ``tinyfleet.capture`` over HTTP, authenticated as the device.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tinyfleet.capture import LABEL_UNKNOWN, encode_batch
from tinyfleet.errors import UsageError

__all__ = [
    "CaptureClient",
    "Selector",
    "StreamCapture",
    "capture_from_source",
    "load_capture_source",
    "serve_pending_async",
]

BINS = 16


def _bins(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.int16) + 128) >> 4


@dataclass
class Selector:
    """Keeps up to ``count`` of the samples offered, by ``trigger``."""

    trigger: str
    count: int
    confidence_below: int | None = None
    baseline: np.ndarray | None = None  # 16 input-bin counts (all groups summed), for "drift"
    seed: int = 0
    seen: int = 0
    _keep: list[tuple[float, int, np.ndarray, np.ndarray, int]] = field(default_factory=list)
    _recent: np.ndarray = field(default_factory=lambda: np.zeros(BINS, np.float64))

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        if self.trigger == "drift" and self.baseline is None:
            raise ValueError("the drift trigger needs the package's input baseline")

    def offer(self, x: np.ndarray, out: np.ndarray, label: int = LABEL_UNKNOWN) -> None:
        x = np.asarray(x, np.int8).reshape(-1)
        out = np.asarray(out, np.int8).reshape(-1)
        i = self.seen
        self.seen += 1
        if self.trigger == "random":
            if len(self._keep) < self.count:
                self._keep.append((0.0, i, x, out, label))
            else:
                j = int(self._rng.integers(0, i + 1))
                if j < self.count:
                    self._keep[j] = (0.0, i, x, out, label)
        elif self.trigger == "low_confidence":
            assert self.confidence_below is not None
            if len(self._keep) < self.count and int(out.max()) < self.confidence_below:
                self._keep.append((0.0, i, x, out, label))
        else:
            b = _bins(x)
            self._recent += np.bincount(b, minlength=BINS)
            assert self.baseline is not None
            p_recent = (self._recent + 1) / (self._recent.sum() + BINS)
            p_base = (self.baseline + 1) / (self.baseline.sum() + BINS)
            score = float(np.mean(np.log(p_recent[b] / p_base[b])))
            item = (score, i, x, out, label)
            if len(self._keep) < self.count:
                heapq.heappush(self._keep, item)
            elif score > self._keep[0][0]:
                heapq.heapreplace(self._keep, item)

    def __len__(self) -> int:
        return len(self._keep)

    def batch(self) -> bytes:
        """The kept samples as one upload (in the order they were offered)."""
        kept = sorted(self._keep, key=lambda t: t[1])
        return encode_batch(
            np.stack([k[2] for k in kept]),
            np.stack([k[3] for k in kept]),
            np.asarray([k[4] for k in kept], np.int16),
        )


class CaptureClient:
    """The device's side of the capture API (HTTP Basic with its id and secret)."""

    def __init__(self, base_url: str, device_id: str, secret: str, timeout: float = 30.0) -> None:
        self.device_id = device_id
        self._http = httpx.Client(base_url=base_url.rstrip("/"), auth=(device_id, secret), timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def pending(self) -> list[dict[str, Any]]:
        r = self._http.get("/api/v1/capture/pending")
        r.raise_for_status()
        return list(r.json())

    def upload(self, request_id: int, batch: bytes) -> httpx.Response:
        return self._http.post(
            f"/api/v1/capture/requests/{request_id}/samples",
            content=batch,
            headers={"content-type": "application/octet-stream"},
        )


def capture_from_source(
    client: CaptureClient,
    samples: Iterable[tuple[np.ndarray, int]],
    infer: Callable[[np.ndarray], np.ndarray],
    baseline: np.ndarray | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Serve every pending request from ``samples`` ((int8 input, label or -1) pairs) run through
    ``infer``; returns what the server answered per request (``status`` and body)."""
    results: list[dict[str, Any]] = []
    todo = client.pending()
    if not todo:
        return results
    data = list(samples)
    for req in todo:
        sel = Selector(req["trigger"], int(req["count"]), req.get("confidence_below"), baseline, seed)
        for x, label in data:
            sel.offer(x, infer(x), label)
        if not len(sel):
            results.append({"id": req["id"], "status": None, "body": "nothing matched the trigger"})
            continue
        r = client.upload(int(req["id"]), sel.batch())
        results.append({"id": req["id"], "status": r.status_code, "body": r.json() if r.content else None})
    return results


def load_capture_source(path: Path) -> list[tuple[np.ndarray, int, np.ndarray]]:
    """A data source for a simulated device: an ``.npz`` with ``x`` (int8 model inputs), optional
    ``y`` (labels, -1 unknown) and ``outputs`` (int8 model outputs) — e.g. an exported dataset version."""
    try:
        with np.load(path, allow_pickle=False) as z:
            x = np.asarray(z["x"])
            y = np.asarray(z["y"]) if "y" in z.files else np.full(len(x), LABEL_UNKNOWN)
            out = np.asarray(z["outputs"]) if "outputs" in z.files else None
    except (OSError, KeyError, ValueError) as exc:
        raise UsageError(
            f"capture data {path}: not an .npz with an int8 array x ({type(exc).__name__})"
        ) from None
    if x.dtype != np.int8 or x.ndim < 2 or len(y) != len(x):
        raise UsageError(f"capture data {path}: x must be int8 (N, ...) with one label per row in y")
    if out is None or out.dtype != np.int8 or len(out) != len(x) or out.size == 0:
        out = np.zeros((len(x), 1), np.int8)
    return [(x[i], int(y[i]), out[i]) for i in range(len(x))]


async def serve_pending_async(
    http: httpx.AsyncClient,
    base_url: str,
    device_id: str,
    secret: str,
    samples: Sequence[tuple[np.ndarray, int, np.ndarray]],
    baseline: np.ndarray | None = None,
    seed: int = 0,
) -> list[int]:
    """The simulator's side: serve every pending request from recorded (input, label, output)
    samples; returns the upload statuses."""
    base = base_url.rstrip("/")
    r = await http.get(f"{base}/api/v1/capture/pending", auth=(device_id, secret))
    if r.status_code != 200:
        return []
    statuses = []
    for req in r.json():
        sel = Selector(req["trigger"], int(req["count"]), req.get("confidence_below"), baseline, seed)
        for x, label, out in samples:
            if out.size != int(req["output_bytes"]):
                out = np.zeros(int(req["output_bytes"]), np.int8)
            sel.offer(x, out, label)
        if not len(sel):
            continue
        up = await http.post(
            f"{base}/api/v1/capture/requests/{req['id']}/samples",
            content=sel.batch(),
            headers={"content-type": "application/octet-stream"},
            auth=(device_id, secret),
        )
        statuses.append(up.status_code)
    return statuses


class StreamCapture:
    """A Linux agent's capture from its inference stream: :meth:`offer` every inference (any thread),
    :meth:`poll` now and then (blocking HTTP; the agent runs it in a worker thread). A request's
    samples are uploaded once ``count`` are kept and, for ``random`` and ``drift``, at least
    ``STREAM_FACTOR × count`` inferences were seen (so the sample is of a stretch of the stream, not
    its first moments), or when the request is about to expire."""

    POLL_S = 60.0
    STREAM_FACTOR = 4

    def __init__(self, base_url: str, device_id: str, secret: str, timeout: float = 30.0) -> None:
        import threading

        self.client = CaptureClient(base_url, device_id, secret, timeout)
        self._lock = threading.Lock()
        self._open: dict[int, tuple[Selector, dict[str, Any]]] = {}
        self._done: set[int] = set()

    def offer(self, x: np.ndarray, out: np.ndarray, label: int = LABEL_UNKNOWN) -> None:
        if not self._open:
            return
        with self._lock:
            for sel, _ in self._open.values():
                sel.offer(x, out, label)

    def _ready(self, sel: Selector, req: dict[str, Any], now: float) -> bool:
        if not len(sel):
            return False
        if float(req["expires_at"]) - now < 2 * self.POLL_S:
            return True
        full = len(sel) >= int(req["count"])
        return full and (
            sel.trigger == "low_confidence" or sel.seen >= self.STREAM_FACTOR * int(req["count"])
        )

    def poll(self, baseline: np.ndarray | None = None, now: float | None = None) -> list[int]:
        """Learn new requests, drop ended ones, upload those that are ready; the upload statuses."""
        import time

        at = time.time() if now is None else now
        try:
            pending = {int(r["id"]): r for r in self.client.pending()}
        except httpx.HTTPError:
            return []
        with self._lock:
            for rid in list(self._open):
                if rid not in pending:
                    del self._open[rid]
            for rid, req in pending.items():
                if rid in self._open or rid in self._done:
                    continue
                if req["trigger"] == "drift" and baseline is None:
                    continue  # no package baseline yet: nothing to compare with
                sel = Selector(
                    req["trigger"], int(req["count"]), req.get("confidence_below"), baseline, seed=rid
                )
                self._open[rid] = (sel, req)
            ready = [(rid, sel) for rid, (sel, req) in self._open.items() if self._ready(sel, req, at)]
            for rid, _ in ready:
                del self._open[rid]
                self._done.add(rid)
        statuses = []
        for rid, sel in ready:
            try:
                statuses.append(self.client.upload(rid, sel.batch()).status_code)
            except httpx.HTTPError:
                statuses.append(0)
        return statuses
