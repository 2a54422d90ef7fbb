"""Gateway mode: microcontrollers behind this board, each its own fleet device.

Every MCU (``[[gateway.devices]]`` in agent.toml: id, secret, serial, board) gets its own MQTT
session with its own credentials, its own update journal and the same update state machine as the
Linux agent; only the steps differ:

| step      | on the MCU                                                                   |
|-----------|------------------------------------------------------------------------------|
| download  | HTTP Range into the gateway's disk (``fetch.py``), with the MCU's credentials  |
| verify    | signature, digests, board listed, counter ≥ the MCU's floor (from INFO)       |
| install   | stream ``device.bin``+``device.sig`` then model+golden into the inactive slot, |
|           | resuming after link errors; OTA_COMMIT (the MCU verifies everything again)    |
| load      | reboot into the pending slot as a trial                                       |
| self_test | the firmware ran the golden vectors at boot; INFO tells whether the trial runs |
| swap      | the trial serves                                                              |
| confirm   | CONFIRM: the trial becomes permanent and the MCU raises its counter           |
| rollback  | REVERT: the previous slot serves                                              |

The gateway relays the MCU's state, heartbeats and drift telemetry, and forwards inference
requests to it (``serve_http`` per MCU: the same endpoint as the Linux agent's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tinyfleet import wire
from tinyfleet.agent.backoff import Backoff
from tinyfleet.agent.config import AgentConfig, McuConfig
from tinyfleet.agent.device import FleetDevice
from tinyfleet.agent.fetch import Fetcher
from tinyfleet.agent.hotswap import InferenceResult, NoModel
from tinyfleet.agent.mcu_link import McuInfo, McuLink, McuRefused, stream_ota
from tinyfleet.agent.mqtt_session import MqttSession, SessionConfig
from tinyfleet.agent.reconcile import UPDATE_STATUS, Executor, Outcome, Step, StepResult
from tinyfleet.agent.runtimes import TensorSpec
from tinyfleet.errors import DeviceError, UsageError
from tinyfleet.fsutil import atomic_write_text
from tinyfleet.package import ModelPackage
from tinyfleet.signing import load_trusted_keys

__all__ = ["GatewayDevice", "plan_mcus", "run_gateway"]

log = logging.getLogger(__name__)
LinkFactory = Callable[[McuConfig], McuLink]


class _McuModel:
    """The MCU's active model as the inference endpoint sees it (like runtimes.LoadedModel)."""

    def __init__(self, dev: GatewayDevice, info: McuInfo, pkg: ModelPackage | None) -> None:
        self.dev = dev
        self.name = info.active.name if info.active else ""
        self.version = info.active.version if info.active else ""
        self.sha256 = info.active.sha256 if info.active else ""
        self.runtime = "tinyfleet-mcu"
        spec = pkg.meta if pkg is not None else None
        self.input = TensorSpec.from_manifest(spec.input) if spec else TensorSpec((info.input_bytes,), 1.0, 0)
        self.output = (
            TensorSpec.from_manifest(spec.output) if spec else TensorSpec((info.output_bytes,), 1.0, 0)
        )

    def infer(self, x: np.ndarray) -> np.ndarray:
        return np.frombuffer(
            self.dev.call(self.dev.link.infer, np.asarray(x, np.int8).tobytes()), dtype=np.int8
        )


class _Holder:
    def __init__(self) -> None:
        self.active: _McuModel | None = None


class _McuSteps:
    def __init__(self, dev: GatewayDevice) -> None:
        self.d = dev
        self.package: ModelPackage | None = None

    def snapshot_previous(self) -> dict[str, Any]:
        a = self.d.info.active if self.d.info else None
        return {"version": a.version if a else None}

    async def download(self, model: wire.DesiredModel, attempt: int) -> StepResult:
        return await self.d.fetcher.download(model, attempt)

    async def verify(self, model: wire.DesiredModel) -> StepResult:
        info = await self.d.acall(self.d.link.info)
        res, self.package = await self.d.fetcher.verify(model, info.security_counter)
        return res

    async def install(self, model: wire.DesiredModel) -> StepResult:
        pkg = self.package
        assert pkg is not None
        header = pkg.device_manifest_bytes + pkg.device_sig
        payload = pkg.ota_payload()
        loop = asyncio.get_running_loop()
        last = [0.0]

        def progress(have: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 1.0:
                last[0] = now
                loop.call_soon_threadsafe(
                    self.d.emit_nowait,
                    wire.EventType.DOWNLOAD_PROGRESS,
                    model,
                    "streaming to the MCU",
                    round(have / total, 3),
                )

        try:
            resumes = await self.d.acall(stream_ota, self.d.link, header, payload, 768, progress)
        except McuRefused as exc:
            return StepResult(Outcome.FAIL, f"MCU refused the update: {exc}")
        except DeviceError as exc:
            return StepResult(Outcome.FAIL, f"OTA stream failed: {exc}")
        self.d.fetcher.discard(model)
        return StepResult.ok(f"{len(payload)} bytes streamed to the MCU slot ({resumes} resume(s))")

    async def load(self, model: wire.DesiredModel) -> StepResult:
        self.d.remember(model)
        try:
            self.d.info = await self.d.acall(self.d.link.activate)
        except DeviceError as exc:
            return StepResult(Outcome.FAIL, f"MCU did not boot the new slot: {exc}")
        return StepResult.ok("rebooted into the trial slot")

    async def self_test(self, model: wire.DesiredModel) -> StepResult:
        info = self.d.info
        a = info.active if info else None
        if info is None or a is None or a.version != model.version or not info.trial or not info.selftest_ok:
            why = info.last_selftest if info and info.last_selftest else "the MCU reverted the trial"
            return StepResult(Outcome.FAIL, f"golden self-test failed on the MCU: {why}")
        return StepResult.ok(f"golden self-test passed on the MCU {info.last_selftest}".strip())

    async def swap(self, model: wire.DesiredModel) -> StepResult:
        self.d.refresh_model(self.package)
        return StepResult.ok("the trial model serves")

    async def confirm(self, model: wire.DesiredModel) -> StepResult:
        try:
            await self.d.acall(self.d.link.confirm)
            self.d.info = await self.d.acall(self.d.link.info)
        except DeviceError as exc:
            return StepResult(Outcome.FAIL, f"CONFIRM failed: {exc}")
        return StepResult.ok(f"{model.name} {model.version} confirmed on the MCU")

    async def rollback(self, model: wire.DesiredModel | None, previous: dict[str, Any]) -> StepResult:
        try:
            info = await self.d.acall(self.d.link.info)
            if (
                model is not None
                and info.active is not None
                and info.active.version == model.version
                and info.trial
            ):
                info = await self.d.acall(self.d.link.revert)
            self.d.info = info
        except DeviceError as exc:
            return StepResult(Outcome.FAIL, f"REVERT failed: {exc}")
        if model is not None:
            self.d.fetcher.discard(model, keep_partial=True)
        self.d.refresh_model(None)
        return StepResult.ok(f"MCU runs {info.active.version if info.active else 'no model'}")


class GatewayDevice(FleetDevice):
    """One MCU: link, MQTT session, journal, executor."""

    def __init__(
        self, cfg: AgentConfig, mcu: McuConfig, link_factory: LinkFactory, trusted_keys: dict[str, bytes]
    ) -> None:
        super().__init__(mcu.device_id, cfg.max_attempts)
        self.cfg = cfg
        self.mcu = mcu
        self._link_factory = link_factory
        self._link: McuLink | None = None
        self._lock = threading.Lock()
        self.state_dir = Path(cfg.state_dir) / "mcu" / mcu.device_id
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.trusted_keys = trusted_keys
        # act only on desired states the server signed for this MCU (its own key list and sequence)
        self.configure_trust(cfg.desired_keys, cfg.root, self.state_dir, dict(trusted_keys))
        self.fetcher = Fetcher(
            self.state_dir / "downloads",
            cfg.http_base,
            (mcu.device_id, mcu.secret),
            trusted_keys,
            ("model.tflite",),
            board=mcu.board,
            progress=self.emit_nowait,
        )
        self.steps = _McuSteps(self)
        self.executor = Executor(
            self.state_dir / "update.json",
            self.steps,
            self._emit,
            self._status,
            max_attempts=cfg.max_attempts,
            retries=cfg.download_retries,
        )
        self.session = MqttSession(
            SessionConfig(
                mcu.device_id, mcu.secret, cfg.mqtt_host, cfg.mqtt_port, cfg.keepalive_s, cfg.session_expiry_s
            ),
            on_message=self._on_message,
            on_connected=self._on_connected,
        )
        self.info: McuInfo | None = None
        # version -> package sha256: the MCU reports name/version/counter, the server knows packages by digest
        self._known_path = self.state_dir / "packages.json"
        self.packages: dict[str, str] = _read_json(self._known_path)
        self.hotswap = _Holder()
        self.started = time.monotonic()
        self.endpoint: Any = None
        self.ready = threading.Event()  # set once booted and the endpoint listens

    # -- the link (blocking) ---------------------------------------------------------------------
    @property
    def link(self) -> McuLink:
        if self._link is None:
            raise DeviceError(f"{self.mcu.device_id}: the MCU on {self.mcu.serial} is not connected")
        return self._link

    async def _open_link(self, stop: asyncio.Event) -> bool:
        """Open the serial link, retrying with backoff (a board may boot later); False if stopped first."""
        backoff = Backoff(base=1.0, cap=30.0)
        while not stop.is_set():
            try:
                self._link = await asyncio.to_thread(self._link_factory, self.mcu)
                return True
            except DeviceError as exc:
                delay = backoff.next_delay()
                log.warning(
                    "%s: cannot open %s (%s); retrying in %.1f s",
                    self.mcu.device_id,
                    self.mcu.serial,
                    exc,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        return False

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._lock:  # one request at a time on a serial line
            return fn(*args)

    async def acall(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(self.call, fn, *args)

    def infer(self, x: np.ndarray) -> InferenceResult:
        model = self.hotswap.active
        if model is None:
            raise NoModel("the MCU has no model")
        t0 = time.perf_counter()
        y = model.infer(x)
        return InferenceResult(y, model, (time.perf_counter() - t0) * 1e6)  # type: ignore[arg-type]

    def refresh_model(self, pkg: ModelPackage | None) -> None:
        info = self.info
        self.hotswap.active = (
            _McuModel(self, info, pkg) if info is not None and info.active is not None else None
        )

    # -- reporting -------------------------------------------------------------------------------
    def state(self) -> wire.DeviceState:
        info = self.info
        active = None
        if info is not None and info.active is not None:
            a = info.active
            sha = a.sha256 or self.packages.get(a.version)
            if sha is not None:  # a model installed by other means has no known package digest
                active = wire.ModelRef(
                    name=a.name, version=a.version, sha256=sha, security_counter=a.security_counter
                )
        slots = [
            wire.SlotInfo(slot=wire.SlotName(s), state=wire.SlotState(st))
            for s, st in sorted((info.slots if info else {}).items())
            if s in set(wire.SlotName) and st in set(wire.SlotState)  # a state the contract lacks is left out
        ]
        return wire.DeviceState(
            device_id=self.mcu.device_id,
            board=self.mcu.board,
            kind=wire.DeviceKind.MCU,
            firmware=(info.firmware if info else "")[:32],
            active=active,
            slots=slots[:2],
            runtimes=["tinyfleet-mcu"],
            deployment_id=self.deployment_id,
            update=UPDATE_STATUS[self.update_step],
            ts=round(time.time(), 3),
            seq=self.next_seq(),
        )

    def active_sha256(self) -> str | None:
        a = self.info.active if self.info else None
        return (a.sha256 or self.packages.get(a.version)) if a else None

    # -- MQTT ------------------------------------------------------------------------------------
    async def _on_connected(self) -> None:
        self.publish_state()
        self.drain_events()

    async def boot(self) -> None:
        self.info = await self.acall(self.link.info)
        await self.executor.recover()
        self.deployment_id = self.executor.journal.deployment_id or None
        self.refresh_model(None)

    def remember(self, model: wire.DesiredModel) -> None:
        if self.packages.get(model.version) != model.sha256:
            self.packages[model.version] = model.sha256
            atomic_write_text(self._known_path, json.dumps(self.packages, sort_keys=True))

    async def run(self, stop: asyncio.Event) -> None:
        if not await self._open_link(stop):
            return
        await self.boot()
        if self.mcu.serve_http:
            from tinyfleet.agent.serve import Endpoint

            self.endpoint = Endpoint(self, self.mcu.serve_http, "")
            self.endpoint.start()
        self.ready.set()
        tasks = [
            asyncio.create_task(self.session.run()),
            asyncio.create_task(self.reconcile_forever()),
            asyncio.create_task(self._periodic()),
        ]
        try:
            await stop.wait()
        finally:
            if self.endpoint is not None:
                self.endpoint.stop()
            await self.session.stop()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            with contextlib.suppress(DeviceError, OSError):
                if self._link is not None:
                    self._link.close()

    async def _periodic(self) -> None:
        next_hb = next_tm = time.monotonic()
        last_tm = time.time()
        while True:
            now = time.monotonic()
            if now >= next_hb:
                next_hb = now + self.cfg.heartbeat_period_s
                a = self.info.active if self.info else None
                hb = wire.Heartbeat(
                    ts=round(time.time(), 3),
                    uptime_s=round(now - self.started, 1),
                    model_version=a.version if a else None,
                )
                self.session.publish(wire.Channel.HB, wire.encode(hb))
            if now >= next_tm and self.update_step not in (
                Step.DOWNLOAD,
                Step.VERIFY,
                Step.INSTALL,
                Step.LOAD,
            ):
                next_tm = now + self.cfg.telemetry_period_s
                await self._relay_telemetry(last_tm)
                last_tm = time.time()
            await asyncio.sleep(max(0.05, min(next_hb, next_tm) - time.monotonic()))

    async def _relay_telemetry(self, since: float) -> None:
        try:
            tm = await self.acall(self.link.telemetry)
        except DeviceError as exc:
            log.warning("%s: telemetry read failed: %s", self.mcu.device_id, exc)
            return
        a = self.info.active if self.info else None
        if tm is None or a is None or tm.n == 0:
            return
        now = time.time()
        msg = wire.Telemetry(
            ts=round(now, 3),
            period_s=max(0.001, round(now - since, 3)),
            model=a.version,
            n=tm.n,
            err=tm.err,
            lat_p50_us=tm.lat_p50_us,
            lat_p95_us=tm.lat_p95_us,
            input_hist=tm.input_hist,
            cls=tm.cls,
            conf=tm.conf,
        )
        self.session.publish(wire.Channel.TM, wire.encode(msg), qos=1)


def _read_json(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _serial_factory(mcu: McuConfig) -> McuLink:
    from tinyfleet.agent.serial_link import SerialLink

    return SerialLink.open(mcu.serial)


def plan_mcus(cfg: AgentConfig) -> list[McuConfig]:
    """The MCUs to serve: ``[[gateway.devices]]``, restricted to ``--serial`` ports when given."""
    if not cfg.mcus:
        raise UsageError("gateway mode needs [[gateway.devices]] entries (id, secret, serial) in agent.toml")
    if not cfg.serial:
        return list(cfg.mcus)
    by_port = {m.serial: m for m in cfg.mcus}
    missing = [p for p in cfg.serial if p not in by_port]
    if missing:
        raise UsageError(f"no [[gateway.devices]] entry for serial port(s) {', '.join(missing)}")
    return [by_port[p] for p in cfg.serial]


async def run_gateway(cfg: AgentConfig, stop: asyncio.Event, link_factory: LinkFactory | None = None) -> None:
    """Serve every configured MCU until ``stop``."""
    keys = load_trusted_keys(cfg.trusted_keys)
    factory = link_factory or _serial_factory
    devices = [GatewayDevice(cfg, m, factory, keys) for m in plan_mcus(cfg)]
    await asyncio.gather(*(d.run(stop) for d in devices))
