"""Many simulated devices in one asyncio process.

Python API (used by ``tinyfleet sim``, the demo and the server benchmark)::

    from tinyfleet.agent.sim.fleet import Fleet, SimConfig
    from tinyfleet.agent.sim.behaviour import Behaviour

    cfg = SimConfig(devices=1000, host="127.0.0.1", port=1883, seed="fleet-seed",
                    http_base="http://127.0.0.1:8000", trusted_keys=[Path("tinyfleet-signing.pub")],
                    behaviour=Behaviour(drift_fraction=0.2, drift_at_s=60, fail_selftest_versions=frozenset({"1.3.0"})))
    async with Fleet(cfg) as fleet:          # connects every device (ramped), starts heartbeats
        await fleet.wait_connected(timeout=60)
        await asyncio.sleep(120)
        print(fleet.stats())

Scheduling is shared: one ticker walks the devices in slices, so heartbeats and telemetry are
spread evenly over their periods (no thundering herd, no timer per device).
"""

from __future__ import annotations

import asyncio
import collections
import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tinyfleet import wire
from tinyfleet.agent.sim.behaviour import Behaviour
from tinyfleet.agent.sim.credentials import device_ids, device_secret
from tinyfleet.agent.sim.device import SimDevice
from tinyfleet.errors import PackageError, UsageError
from tinyfleet.manifest import Manifest
from tinyfleet.package import read_package
from tinyfleet.signing import load_trusted_keys

__all__ = ["Fleet", "SimConfig", "load_credentials"]


@dataclass
class SimConfig:
    devices: int = 10
    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = "sim-"
    start_index: int = 0
    seed: str = ""  # secrets are HMAC(seed, id); or give credentials
    credentials: list[tuple[str, str]] | None = None
    board: str = "rpi4"
    http_base: str = "http://127.0.0.1:8000"
    trusted_keys: list[Path] | None = None  # None: the default keys folder
    desired_keys: list[Path] = field(default_factory=list)  # online keys; empty: unsigned accepted
    heartbeat_s: float = 10.0
    telemetry_s: float = 30.0
    infer_hz: float = 2.0
    keepalive_s: int = 60
    session_expiry_s: int = 3600
    connect_rate: float = 2000.0  # new connections per second
    download: str = "each"  # each | shared
    max_downloads: int = 32
    step_delay_s: float = 0.05
    behaviour: Behaviour = field(default_factory=Behaviour)
    capture_data: Path | None = None  # .npz the devices capture from when asked (docs/mlops.md)


def load_credentials(path: Path) -> list[tuple[str, str]]:
    """``device_id,secret`` rows (a header line is allowed)."""
    try:
        with open(path, newline="") as fh:
            rows = [r for r in csv.reader(fh) if r and r[0] != "device_id"]
    except OSError as exc:
        raise UsageError(f"cannot read credentials {path}: {exc.strerror}") from None
    if not rows or any(len(r) < 2 or not wire.DEVICE_ID_RE.match(r[0]) for r in rows):
        raise UsageError(f"{path}: expected device_id,secret rows")
    return [(r[0], r[1]) for r in rows]


class Fleet:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        if cfg.credentials is not None:
            creds = cfg.credentials[: cfg.devices]
        elif cfg.seed:
            creds = [
                (d, device_secret(cfg.seed, d)) for d in device_ids(cfg.devices, cfg.prefix, cfg.start_index)
            ]
        else:
            raise UsageError("the simulator needs --seed or --credentials")
        if cfg.download not in ("each", "shared"):
            raise UsageError("download mode must be 'each' or 'shared'")
        self.counters: collections.Counter[str] = collections.Counter()
        self.devices = [SimDevice(self, d, s, i) for i, (d, s) in enumerate(creds)]
        self.blobs: dict[str, bytes] = {}
        self.capture_source = None
        if cfg.capture_data is not None:
            from tinyfleet.agent.capture import load_capture_source

            self.capture_source = load_capture_source(cfg.capture_data)
        self._manifests: dict[str, Manifest] = {}
        self._shared_locks: dict[str, asyncio.Lock] = {}
        self._keys: dict[str, bytes] | None = None
        self.desired_keys = load_trusted_keys(cfg.desired_keys) if cfg.desired_keys else {}
        self.download_slots = asyncio.Semaphore(cfg.max_downloads)
        self.http = httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=cfg.max_downloads))
        self.t0 = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []
        self.drift_on = False
        self._flag_checked = 0.0

    # -- packages (verified once per sha256 for the whole fleet) ------------------------------------
    def verified_manifest(self, sha256: str, data: bytes) -> Manifest:
        m = self._manifests.get(sha256)
        if m is None:
            if self._keys is None:
                self._keys = load_trusted_keys(self.cfg.trusted_keys)
            m = read_package(data, self._keys).meta
            self._manifests[sha256] = m
        return m

    async def fetch_shared(self, model: wire.DesiredModel, device_id: str, secret: str) -> None:
        lock = self._shared_locks.setdefault(model.sha256, asyncio.Lock())
        async with lock:
            if model.sha256 in self.blobs:
                return
            url = model.url if model.url.startswith("http") else self.cfg.http_base + model.url
            resp = await self.http.get(url, auth=(device_id, secret))
            resp.raise_for_status()
            if len(resp.content) != model.size:
                raise PackageError(f"shared download has {len(resp.content)} bytes, expected {model.size}")
            self.blobs[model.sha256] = resp.content

    # -- lifecycle ---------------------------------------------------------------------------------
    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.t0 = time.monotonic()
        self._tasks.append(asyncio.create_task(self._ramp()))
        self._tasks.append(asyncio.create_task(self._ticker()))
        if self.cfg.behaviour.offline_fraction > 0:
            self._tasks.append(asyncio.create_task(self._offline_wave()))

    async def _ramp(self) -> None:
        batch = max(1, int(self.cfg.connect_rate / 20))
        for i in range(0, len(self.devices), batch):
            for d in self.devices[i : i + batch]:
                d.start()
            await asyncio.sleep(0.05)

    async def _ticker(self) -> None:
        tick = 0.1
        n = len(self.devices)
        hb_i = tm_i = 0
        hb_carry = tm_carry = 0.0
        last = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            dt, last = now - last, now
            self._update_drift(now)
            hb_carry += n * dt / self.cfg.heartbeat_s
            k, hb_carry = int(hb_carry), hb_carry - int(hb_carry)
            for _ in range(k):
                d = self.devices[hb_i % n]
                hb_i += 1
                if d.session.connected.is_set():
                    d.heartbeat()
                    if self.capture_source is not None and not d.capturing:
                        asyncio.create_task(d.capture())  # asks the server what to capture
            tm_carry += n * dt / self.cfg.telemetry_s
            k, tm_carry = int(tm_carry), tm_carry - int(tm_carry)
            for _ in range(k):
                self.devices[tm_i % n].telemetry()
                tm_i += 1

    def _update_drift(self, now: float) -> None:
        b = self.cfg.behaviour
        if self.drift_on or b.drift_fraction <= 0:
            return
        if b.drift_flag:
            if now - self._flag_checked >= 1.0:
                self._flag_checked = now
                self.drift_on = Path(b.drift_flag).exists()
        else:
            self.drift_on = now - self.t0 >= b.drift_at_s
        if self.drift_on:
            self.counters["drift_started"] = 1

    async def _offline_wave(self) -> None:
        b = self.cfg.behaviour
        await asyncio.sleep(max(0.0, b.offline_at_s - (time.monotonic() - self.t0)))
        chosen = [d for d in self.devices if b.goes_offline(d.id)]
        self.counters["went_offline"] += len(chosen)
        await asyncio.gather(*(d.go_offline(b.offline_for_s) for d in chosen))

    async def wait_connected(self, timeout: float, fraction: float = 1.0) -> bool:
        need = math.ceil(len(self.devices) * fraction)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected() >= need:
                return True
            await asyncio.sleep(0.2)
        return False

    def connected(self) -> int:
        return sum(1 for d in self.devices if d.session.connected.is_set())

    def stats(self) -> dict[str, Any]:
        versions = collections.Counter(d.active.version if d.active else "-" for d in self.devices)
        updates = collections.Counter(d.update_step.value for d in self.devices)
        return {
            "devices": len(self.devices),
            "connected": self.connected(),
            "uptime_s": round(time.monotonic() - self.t0, 1),
            "versions": dict(versions),
            "updates": dict(updates),
            "sent": dict(self.counters),
        }

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(d.session.stop(graceful=True) for d in self.devices), return_exceptions=True)
        for d in self.devices:
            if d.task is not None:
                d.task.cancel()
        await asyncio.gather(*(d.task for d in self.devices if d.task is not None), return_exceptions=True)
        await self.http.aclose()
