"""One simulated device: a real MQTT session with its own credentials, the agent's update state
machine (``reconcile.Executor``, journal in memory) with simulated steps, heartbeats and telemetry.

Downloads are real HTTP (Range, resume, sha256) in ``each`` mode, or one download per package for
the whole fleet in ``shared`` mode (for very large fleets). Either way the package is verified with
the trusted keys (signature, digests) once per sha256 and its drift baseline drives the telemetry.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from tinyfleet import wire
from tinyfleet.agent.backoff import Backoff
from tinyfleet.agent.device import device_event
from tinyfleet.agent.mqtt_session import MqttSession, SessionConfig
from tinyfleet.agent.reconcile import UPDATE_STATUS, Action, Executor, Outcome, Step, StepResult, decide
from tinyfleet.agent.sim.behaviour import Baseline, synth_telemetry
from tinyfleet.desired import SignedDesiredState, check_desired, parse_signed
from tinyfleet.errors import PackageError, SignatureError

if TYPE_CHECKING:
    from tinyfleet.agent.sim.fleet import Fleet

__all__ = ["SimDevice"]


class _Steps:
    def __init__(self, dev: SimDevice) -> None:
        self.d = dev
        self.buf = bytearray()
        self.previous: wire.ModelRef | None = None
        self.baseline: Baseline | None = None

    def snapshot_previous(self) -> dict[str, Any]:
        return {}

    async def download(self, model: wire.DesiredModel, attempt: int) -> StepResult:
        fleet = self.d.fleet
        if fleet.cfg.download == "shared":
            try:
                await fleet.fetch_shared(model, self.d.id, self.d.secret)
            except (httpx.HTTPError, PackageError) as exc:
                return StepResult(Outcome.RETRY, f"shared download: {exc}")
            self.buf = bytearray(fleet.blobs[model.sha256])
            if attempt == 0 and fleet.cfg.behaviour.cuts_download(self.d.id):
                return StepResult(Outcome.RETRY, "download cut (simulated)")
            return StepResult.ok()
        if len(self.buf) >= model.size:
            self.buf = bytearray()
        url = model.url if model.url.startswith("http") else fleet.cfg.http_base + model.url
        cut = model.size // 2 if attempt == 0 and fleet.cfg.behaviour.cuts_download(self.d.id) else None
        headers = {"Range": f"bytes={len(self.buf)}-"} if self.buf else {}
        try:
            async with (
                fleet.download_slots,
                fleet.http.stream("GET", url, headers=headers, auth=(self.d.id, self.d.secret)) as resp,
            ):
                if resp.status_code == 200:
                    self.buf = bytearray()
                elif resp.status_code != 206:
                    return StepResult(Outcome.RETRY, f"HTTP {resp.status_code}")
                async for chunk in resp.aiter_bytes():
                    self.buf += chunk
                    if len(self.buf) > model.size:
                        return StepResult(Outcome.FAIL, "server sent more than the expected size")
                    if cut is not None and len(self.buf) >= cut:
                        del self.buf[cut:]
                        return StepResult(Outcome.RETRY, f"download cut at {len(self.buf)} bytes (simulated)")
        except httpx.HTTPError as exc:
            return StepResult(Outcome.RETRY, f"download interrupted: {type(exc).__name__}")
        if len(self.buf) < model.size:
            return StepResult(Outcome.RETRY, f"download short: {len(self.buf)}/{model.size}")
        return StepResult.ok(f"downloaded {model.size} bytes")

    async def verify(self, model: wire.DesiredModel) -> StepResult:
        data = bytes(self.buf)
        self.buf = bytearray()
        if hashlib.sha256(data).hexdigest() != model.sha256:
            return StepResult(Outcome.RETRY, "package digest does not match the desired sha256")
        try:
            manifest = self.d.fleet.verified_manifest(model.sha256, data)
        except PackageError as exc:
            return StepResult(Outcome.FAIL, str(exc))
        if manifest.security_counter < self.d.counter:
            return StepResult(
                Outcome.FAIL,
                f"anti-rollback: security counter {manifest.security_counter} < {self.d.counter}",
            )
        self.baseline = Baseline.from_manifest(manifest)
        return StepResult.ok("signature, digests and security counter verified")

    async def install(self, model: wire.DesiredModel) -> StepResult:
        await asyncio.sleep(self.d.fleet.cfg.step_delay_s)
        return StepResult.ok("installed (simulated)")

    async def load(self, model: wire.DesiredModel) -> StepResult:
        return StepResult.ok()

    async def self_test(self, model: wire.DesiredModel) -> StepResult:
        await asyncio.sleep(self.d.fleet.cfg.step_delay_s)
        if self.d.fleet.cfg.behaviour.fails_selftest(self.d.id, model.version):
            return StepResult(
                Outcome.FAIL, "golden vectors: max diff 37 LSB (tolerance 1) (simulated failure)"
            )
        return StepResult.ok("golden vectors passed (simulated)")

    async def swap(self, model: wire.DesiredModel) -> StepResult:
        self.previous = self.d.active
        self.d.active = wire.ModelRef(
            name=model.name,
            version=model.version,
            sha256=model.sha256,
            security_counter=model.security_counter,
        )
        if self.baseline is not None:
            self.d.baseline = self.baseline
        return StepResult.ok()

    async def confirm(self, model: wire.DesiredModel) -> StepResult:
        self.d.counter = max(self.d.counter, model.security_counter)
        return StepResult.ok(f"{model.name} {model.version} confirmed")

    async def rollback(self, model: wire.DesiredModel | None, previous: dict[str, Any]) -> StepResult:
        if model is not None and self.d.active is not None and self.d.active.sha256 == model.sha256:
            self.d.active = self.previous
        return StepResult.ok("previous model serves")


class SimDevice:
    def __init__(self, fleet: Fleet, device_id: str, secret: str, index: int) -> None:
        self.fleet = fleet
        self.id = device_id
        self.secret = secret
        self.index = index
        cfg = fleet.cfg
        self.rng = np.random.default_rng(index)
        self.session = MqttSession(
            SessionConfig(
                device_id,
                secret,
                cfg.host,
                cfg.port,
                cfg.keepalive_s,
                cfg.session_expiry_s,
                connect_timeout_s=30.0,
                max_inflight=16,
            ),
            on_message=self._on_message,
            on_connected=self._on_connected,
            backoff=Backoff(base=1.0, cap=30.0, rng=random.Random(index)),
        )
        self.active: wire.ModelRef | None = None
        self.counter = 0
        self.baseline = Baseline()
        self.update_step = Step.IDLE
        self.deployment_id: str | None = None
        self.desired_seq, self.desired_sig = 0, ""  # the newest signed desired state accepted
        self.seq = 0
        self.executor = Executor(
            None, _Steps(self), self._emit, self._status, max_attempts=3, retries=4, retry_delay_s=0.5
        )
        self._pending: wire.DesiredState | None = None
        self._updating = False
        self.task: asyncio.Task[None] | None = None
        self.started = time.monotonic()
        self.last_tm = time.time()
        self.offline = False
        self.capturing = False

    # -- MQTT --------------------------------------------------------------------------------
    def start(self) -> None:
        self.task = asyncio.create_task(self.session.run())

    async def _on_connected(self) -> None:
        self.publish_state()

    def state(self) -> wire.DeviceState:
        self.seq += 1
        return wire.DeviceState(
            device_id=self.id,
            board=self.fleet.cfg.board,
            kind=wire.DeviceKind.SIM,
            firmware="tinyfleet-sim",
            active=self.active,
            runtimes=["litert"],
            deployment_id=self.deployment_id,
            update=UPDATE_STATUS[self.update_step],
            ts=round(time.time(), 3),
            seq=self.seq,
        )

    def publish_state(self) -> None:
        if self.session.publish(wire.Channel.STATE, wire.encode(self.state()), qos=1, retain=True):
            self.fleet.counters["state"] += 1

    async def _status(self, step: Step) -> None:
        self.update_step = step
        self.publish_state()

    async def _emit(
        self, etype: wire.EventType, model: wire.DesiredModel | None, detail: str, progress: float | None
    ) -> None:
        self.seq += 1
        ev = device_event(self.deployment_id, etype, model, detail, progress, self.seq)
        for _ in range(50):  # QoS 1 under the in-flight cap; wait briefly rather than lose an event
            if self.session.publish(wire.Channel.EVENT, wire.encode(ev), qos=1):
                self.fleet.counters["events"] += 1
                self.fleet.counters[f"event.{etype.value}"] += 1
                return
            await asyncio.sleep(0.2)

    async def _on_message(self, topic_name: str, payload: bytes) -> None:
        try:
            _dev, channel = wire.parse_topic(topic_name)
            if channel is not wire.Channel.DESIRED or not payload:  # empty: the server cleared it
                return
            desired = parse_signed(payload) if self.fleet.desired_keys else wire.parse(channel, payload)
        except wire.WireError:
            self.fleet.counters["bad_messages"] += 1
            return
        if self.fleet.desired_keys and not self._accept_signed(desired):
            return
        self._pending = desired
        if not self._updating:
            asyncio.create_task(self._update_loop())

    def _accept_signed(self, desired: wire.DesiredState) -> bool:
        """The agent's checks (tinyfleet.desired); the accepted sequence is kept in memory."""
        assert isinstance(desired, SignedDesiredState)
        last = self.desired_seq
        if desired.signed is not None and desired.signed.sig == self.desired_sig:
            last -= 1  # the accepted one, delivered again
        try:
            inst = check_desired(
                desired, self.fleet.desired_keys, device_id=self.id, last_seq=last, now=time.time()
            )
        except SignatureError as exc:
            self.fleet.counters["desired_refused"] += 1
            self.seq += 1
            ev = wire.DeviceEvent(
                deployment_id="",  # a refusal never counts against a rollout
                type=wire.EventType.VERIFY_FAILED,
                detail=f"desired state refused: {exc}"[:200],
                ts=round(time.time(), 3),
                seq=self.seq,
            )
            self.session.publish(wire.Channel.EVENT, wire.encode(ev), qos=1)
            return False
        self.desired_seq, self.desired_sig = inst.seq, desired.signed.sig if desired.signed else ""
        return True

    async def _update_loop(self) -> None:
        self._updating = True
        try:
            while self._pending is not None:
                desired, self._pending = self._pending, None
                active = self.active.sha256 if self.active else None
                action, _reason = decide(desired, active, self.executor.journal, 3)
                if action is Action.NOTHING:
                    if (
                        desired.model is not None
                        and desired.model.sha256 == active
                        and self.deployment_id != desired.deployment_id
                    ):
                        self.deployment_id = desired.deployment_id
                        self.update_step = Step.DONE
                        self.publish_state()
                    continue
                self.deployment_id = desired.deployment_id
                await self.executor.run(desired)
        finally:
            self._updating = False

    # -- periodic (called by the fleet's ticker) -------------------------------------------------
    def heartbeat(self) -> None:
        hb = wire.Heartbeat(
            ts=round(time.time(), 3),
            uptime_s=round(time.monotonic() - self.started, 1),
            model_version=self.active.version if self.active else None,
        )
        if self.session.publish(wire.Channel.HB, wire.encode(hb)):
            self.fleet.counters["hb"] += 1

    def telemetry(self) -> None:
        now = time.time()
        period = max(0.001, now - self.last_tm)
        self.last_tm = now
        if self.active is None or not self.session.connected.is_set():
            return
        b = self.fleet.cfg.behaviour
        n = int(self.rng.poisson(self.fleet.cfg.infer_hz * period)) or 1
        msg = synth_telemetry(
            self.rng,
            self.baseline,
            n,
            round(period, 3),
            now,
            self.active.version,
            drifted=b.drifting(self.id, self.fleet.drift_on),
            shift=b.drift_shift,
            slow=b.slow(self.id),
            slow_factor=b.slow_factor,
            err_rate=b.fail_infer_rate if b.failing_inference(self.id) else 0.0,
            drift_psi=b.drift_psi,
            accuracy_drop=b.accuracy_drop(self.active.version),
            latency_factor=b.latency_factor(self.active.version),
        )
        if self.session.publish(wire.Channel.TM, wire.encode(msg), qos=1):
            self.fleet.counters["tm"] += 1

    async def capture(self) -> None:
        """Serve the capture requests the server has for this device from the fleet's data source."""
        from tinyfleet.agent.capture import serve_pending_async

        source = self.fleet.capture_source
        if source is None or self.capturing:
            return
        self.capturing = True
        try:
            hist = np.asarray(self.baseline.input_p, dtype=np.float64).sum(axis=0) * 1000.0
            statuses = await serve_pending_async(
                self.fleet.http, self.fleet.cfg.http_base, self.id, self.secret, source, hist, seed=self.index
            )
            self.fleet.counters["capture"] += sum(1 for st in statuses if st == 201)
        except httpx.HTTPError:
            pass  # asked again at the next heartbeat
        finally:
            self.capturing = False

    async def go_offline(self, seconds: float) -> None:
        """Drop the link without DISCONNECT (the broker publishes the will) and come back later."""
        self.offline = True
        await self.session.stop(graceful=False)
        if self.task is not None:
            self.task.cancel()
        await asyncio.sleep(seconds)
        self.session.restart()
        self.offline = False
        self.start()
