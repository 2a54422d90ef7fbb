"""The Linux edge agent: one device, its MQTT session, its A/B slots, its serving model.

``Agent.boot()`` recovers an interrupted update (rolling back) and loads the active slot;
``Agent.run()`` keeps the MQTT session, reconciles each desired state through the update state
machine (``reconcile.py``), publishes state, heartbeats, events and telemetry, and serves inference
(``serve.py``). Events and telemetry produced while offline are kept (events in memory, telemetry in
the on-disk spool) and sent when the session is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from tinyfleet import wire
from tinyfleet.agent.capture import StreamCapture
from tinyfleet.agent.config import AgentConfig
from tinyfleet.agent.device import FleetDevice
from tinyfleet.agent.fetch import Fetcher
from tinyfleet.agent.hotswap import HotSwap, InferenceResult
from tinyfleet.agent.install import Slot, SlotStore
from tinyfleet.agent.mqtt_session import MqttSession, SessionConfig
from tinyfleet.agent.reconcile import (
    UPDATE_STATUS,
    Executor,
    FaultHook,
    Outcome,
    Step,
    StepResult,
)
from tinyfleet.agent.runtimes import LoadedModel, load_model, self_test
from tinyfleet.agent.telemetry import Recorder, Spool
from tinyfleet.errors import TinyfleetError
from tinyfleet.package import ModelPackage, read_package
from tinyfleet.signing import load_trusted_keys

__all__ = ["Agent", "LinuxSteps"]

log = logging.getLogger(__name__)
RUNTIME_ARTIFACTS = {"litert": ("model.tflite",), "onnxruntime": ("model_int8.onnx", "model_float.onnx")}


def model_ref(pkg: ModelPackage) -> wire.ModelRef:
    return wire.ModelRef(
        name=pkg.name, version=pkg.version, sha256=pkg.sha256, security_counter=pkg.security_counter
    )


class LinuxSteps:
    """The update steps on a Linux board (files, LiteRT/onnxruntime, the hot-swap holder)."""

    def __init__(self, agent: Agent) -> None:
        self.a = agent
        self.package: ModelPackage | None = None
        self.candidate: LoadedModel | None = None
        self.slot: Slot | None = None

    def snapshot_previous(self) -> dict[str, Any]:
        return {"slot": self.a.slots.active()}

    async def download(self, model: wire.DesiredModel, attempt: int) -> StepResult:
        return await self.a.fetcher.download(model, attempt)

    async def verify(self, model: wire.DesiredModel) -> StepResult:
        res, self.package = await self.a.fetcher.verify(model, self.a.slots.counter())
        return res

    async def install(self, model: wire.DesiredModel) -> StepResult:
        pkg = self.package
        assert pkg is not None
        self.slot = self.a.slots.inactive()
        self.a.slot_refs.pop(self.slot, None)
        self.a.bad_slots.discard(self.slot)
        await asyncio.to_thread(self.a.slots.install, self.slot, pkg.raw)
        self.a.slot_refs[self.slot] = model_ref(pkg)
        self.a.fetcher.discard(model)
        return StepResult.ok(f"installed into slot {self.slot}")

    async def load(self, model: wire.DesiredModel) -> StepResult:
        assert self.package is not None
        try:
            self.candidate = await asyncio.to_thread(load_model, self.package, self.a.cfg.runtime)
        except TinyfleetError as exc:
            return StepResult(Outcome.FAIL, str(exc))
        return StepResult.ok(f"loaded in {self.a.cfg.runtime}")

    async def self_test(self, model: wire.DesiredModel) -> StepResult:
        assert self.candidate is not None
        ok, _diff, detail = await asyncio.to_thread(self_test, self.candidate)
        return StepResult(Outcome.OK if ok else Outcome.FAIL, detail)

    async def swap(self, model: wire.DesiredModel) -> StepResult:
        assert self.candidate is not None and self.slot is not None
        self.a.flush_telemetry()
        self.a.hotswap.swap(self.candidate)
        self.a.configure_recorder(self.candidate.package)
        self.a.slots.switch(self.slot)
        return StepResult.ok(f"slot {self.slot} active ({self.a.hotswap.last_swap_s * 1e6:.0f} µs)")

    async def confirm(self, model: wire.DesiredModel) -> StepResult:
        assert self.package is not None
        self.a.slots.raise_counter(self.package.security_counter)
        self.a.active_ref = model_ref(self.package)
        self.candidate = None
        return StepResult.ok(f"{model.name} {model.version} confirmed")

    async def rollback(self, model: wire.DesiredModel | None, previous: dict[str, Any]) -> StepResult:
        prev_slot = previous.get("slot")
        cand = self.candidate
        if cand is not None and self.a.hotswap.active is cand:
            self.a.hotswap.rollback()
        elif cand is not None:
            self.a.hotswap.discard(cand)
        self.candidate = None
        if self.a.slots.active() != prev_slot:
            self.a.slots.switch(prev_slot)
        for s in ("a", "b"):
            if s != prev_slot:
                self.a.slots.clear(s)
                self.a.slot_refs.pop(s, None)
        if model is not None:  # a download cut by a power cut resumes on the next try
            self.a.fetcher.discard(model, keep_partial=True)
        if self.a.hotswap.active is None and prev_slot is not None:
            self.a.load_active()
        self.package = None
        return StepResult.ok(f"slot {prev_slot or '-'} serves")


class Agent(FleetDevice):
    def __init__(self, cfg: AgentConfig, fault: FaultHook | None = None) -> None:
        super().__init__(cfg.device_id, cfg.max_attempts)
        self.cfg = cfg
        self.state_dir = Path(cfg.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.trusted_keys = load_trusted_keys(cfg.trusted_keys)
        # act only on desired states the server signed for this device; keys rotate through the root
        self.configure_trust(cfg.desired_keys, cfg.root, self.state_dir, self.trusted_keys)
        self.slots = SlotStore(self.state_dir)
        self.hotswap = HotSwap()
        self.recorder = Recorder()
        # capture from the inference stream when the server asks (docs/mlops.md; off unless a
        # group of this device allows it)
        self.capture = StreamCapture(cfg.http_base, cfg.device_id, cfg.secret)
        self.capture_baseline: np.ndarray | None = None
        self.spool = Spool(self.state_dir / "telemetry", cfg.spool_max_messages)
        self.fetcher = Fetcher(
            self.state_dir / "downloads",
            cfg.http_base,
            (cfg.device_id, cfg.secret),
            self.trusted_keys,
            RUNTIME_ARTIFACTS[cfg.runtime],
            board=cfg.board,  # a package not built for this board is INCOMPATIBLE, never installed
            progress=self.emit_nowait,
        )
        self.steps = LinuxSteps(self)
        self.executor = Executor(
            self.state_dir / "update.json",
            self.steps,
            self._emit,
            self._status,
            max_attempts=cfg.max_attempts,
            retries=cfg.download_retries,
            fault=fault,
        )
        self.session = MqttSession(
            SessionConfig(
                cfg.device_id, cfg.secret, cfg.mqtt_host, cfg.mqtt_port, cfg.keepalive_s, cfg.session_expiry_s
            ),
            on_message=self._on_message,
            on_connected=self._on_connected,
        )
        self.active_ref: wire.ModelRef | None = None
        self.slot_refs: dict[str, wire.ModelRef] = {}  # what each slot holds, as far as this process knows
        self.bad_slots: set[str] = set()  # slots whose package did not verify or load at start-up
        self.started = time.monotonic()
        self.last_tick = self.started  # the periodic task's last round (the systemd watchdog reads it)
        self.endpoint: Any = None
        self.ready = threading.Event()  # set once boot is done and the endpoint listens

    def reset_counter(self, floor: int) -> None:
        self.slots.reset_counter(floor)

    # -- start-up --------------------------------------------------------------------------------
    async def boot(self) -> None:
        await self.executor.recover()
        self.load_active()
        self.deployment_id = self.executor.journal.deployment_id or None

    def load_active(self) -> None:
        """Load the active slot; if its package no longer verifies or loads, fall back to the other."""
        act = self.slots.active()
        if act is None:
            return
        for slot in (act, "b" if act == "a" else "a"):
            if not self.slots.has_package(slot):
                continue
            try:
                # an installed package may be signed by a key a key list retired since (not revoked)
                keys = {**self.installed_keys, **self.trusted_keys}
                pkg = read_package(self.slots.package_path(slot), keys)
                model = load_model(pkg, self.cfg.runtime)
            except TinyfleetError as exc:
                log.error("%s: slot %s cannot be loaded: %s", self.cfg.device_id, slot, exc)
                self.bad_slots.add(slot)
                continue
            if slot != act:
                log.warning(
                    "%s: serving slot %s instead of the broken slot %s", self.cfg.device_id, slot, act
                )
                self.slots.switch(slot)
            self.hotswap.swap(model)
            self.configure_recorder(pkg)
            self.active_ref = model_ref(pkg)
            self.slot_refs[slot] = self.active_ref
            return

    def configure_recorder(self, pkg: ModelPackage) -> None:
        baseline = pkg.meta.drift_baseline
        groups = baseline.input.groups if baseline is not None else 1
        n_classes = int(np.prod(pkg.meta.output.shape))
        self.recorder.configure(groups, n_classes)
        if baseline is not None:
            self.capture_baseline = np.asarray(baseline.input.hist, dtype=np.float64).sum(axis=0)

    # -- inference (called from the endpoint's threads) ------------------------------------------
    def infer(self, x: np.ndarray) -> InferenceResult:
        try:
            res = self.hotswap.infer(x)
        except Exception:
            self.recorder.error()
            raise
        self.recorder.record(x, res.output, res.latency_us, res.model.version)
        self.capture.offer(x, res.output)
        return res

    # -- reporting -------------------------------------------------------------------------------
    def state(self) -> wire.DeviceState:
        slots = []
        act = self.slots.active()
        for s in ("a", "b"):
            st: wire.SlotState
            if s == act:
                st = (
                    wire.SlotState.TRIAL
                    if self.update_step in (Step.SWAP, Step.CONFIRM)
                    else wire.SlotState.CONFIRMED
                )
            elif s in self.bad_slots:
                st = wire.SlotState.FAILED
            elif self.update_step is Step.INSTALL:
                st = wire.SlotState.WRITING
            elif self.slots.has_package(s):
                pending = self.update_step in (Step.LOAD, Step.SELF_TEST)
                st = wire.SlotState.PENDING if pending else wire.SlotState.CONFIRMED
            else:
                st = wire.SlotState.EMPTY
            slots.append(wire.SlotInfo(slot=wire.SlotName(s), state=st, model=self.slot_refs.get(s)))
        return wire.DeviceState(
            device_id=self.cfg.device_id,
            board=self.cfg.board,
            kind=wire.DeviceKind.LINUX,
            firmware="tinyfleet-agent",
            active=self.active_ref,
            slots=slots,
            runtimes=[self.cfg.runtime],
            deployment_id=self.deployment_id,
            update=UPDATE_STATUS[self.update_step],
            ts=round(time.time(), 3),
            seq=self.next_seq(),
        )

    def active_sha256(self) -> str | None:
        return self.active_ref.sha256 if self.active_ref else None

    def flush_telemetry(self) -> None:
        msg = self.recorder.take()
        if msg is not None:
            payload = wire.encode(msg)
            if len(self.spool) or not self.session.publish(wire.Channel.TM, payload, qos=1):
                self.spool.put(payload)

    def _drain(self) -> None:
        self.drain_events()
        for name, payload in self.spool.peek(32):
            if not self.session.publish(wire.Channel.TM, payload, qos=1):
                break
            self.spool.ack(name)

    # -- MQTT ------------------------------------------------------------------------------------
    async def _on_connected(self) -> None:
        self.publish_state()
        self._drain()

    # -- main loop -------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        from tinyfleet.agent.serve import Endpoint

        await self.boot()
        endpoint = Endpoint(self, self.cfg.serve_http, self.cfg.serve_unix)
        endpoint.start()
        self.endpoint = endpoint
        self.ready.set()
        tasks = [
            asyncio.create_task(self.session.run()),
            asyncio.create_task(self.reconcile_forever()),
            asyncio.create_task(self._periodic()),
        ]
        if self.cfg.replay_file:
            from tinyfleet.agent.replay import replay_forever

            tasks.append(
                asyncio.create_task(
                    replay_forever(self, Path(self.cfg.replay_file), self.cfg.replay_rate_hz, stop)
                )
            )
        try:
            await stop.wait()
        finally:
            endpoint.stop()
            self.flush_telemetry()
            await self.session.stop()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    async def _periodic(self) -> None:
        next_hb = next_tm = time.monotonic()
        next_capture = next_hb + StreamCapture.POLL_S
        while True:
            now = time.monotonic()
            self.last_tick = now
            if now >= next_capture:
                next_capture = now + StreamCapture.POLL_S
                asyncio.get_running_loop().run_in_executor(None, self.capture.poll, self.capture_baseline)
            if now >= next_hb:
                next_hb = now + self.cfg.heartbeat_period_s
                hb = wire.Heartbeat(
                    ts=round(time.time(), 3),
                    uptime_s=round(now - self.started, 1),
                    model_version=self.active_ref.version if self.active_ref else None,
                )
                self.session.publish(wire.Channel.HB, wire.encode(hb))
            if now >= next_tm:
                next_tm = now + self.cfg.telemetry_period_s
                self.flush_telemetry()
            if self.session.connected.is_set():
                self._drain()
            await asyncio.sleep(min(next_hb, next_tm, now + 5.0) - time.monotonic() + 0.001)
