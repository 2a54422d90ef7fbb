"""A small in-memory fleet for the rollout tests: applies the engine's decisions like the scheduler
would (desired state → device outcome), so tests drive ``step``/``command`` over many ticks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.window import Window
from tinyfleet.server.rollout.engine import Command, Decision, command, step
from tinyfleet.server.rollout.events import Event, RolloutState, create, replay
from tinyfleet.server.rollout.model import (
    DeviceOutcome,
    DeviceView,
    FleetSnapshot,
    PackageInfo,
    RolloutSpec,
    Stage,
    Target,
    VersionRef,
)

OLD = VersionRef("digits", "1.0.0", "b" * 64)
PKG = PackageInfo(
    "digits", "1.1.0", "a" * 64, ("qemu-an386", "rpi4"), ("FULLY_CONNECTED", "SOFTMAX"), 4096, 50_000
)
NEW = PKG.ref


def spec(*stages: Stage, **kw: object) -> RolloutSpec:
    return RolloutSpec(PKG, Target(group="all"), tuple(stages), **kw).validate()  # type: ignore[arg-type]


# behaviour of a device when it is sent the package: "confirm", "fail" or "pending"
Behaviour = Callable[[str], str]


@dataclass
class Fleet:
    devices: dict[str, DeviceView]
    behaviour: Behaviour = lambda d: "confirm"
    target: list[str] = field(default_factory=list)
    telemetry: dict[str, Window] = field(default_factory=dict)
    baselines: dict[str, Baseline] = field(default_factory=dict)
    holder: dict[str, str] = field(default_factory=dict)  # device → rollout that holds it
    history: dict[str, list[VersionRef | None]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)  # security counter per name@version

    @staticmethod
    def make(n: int, board: Callable[[int], str] = lambda i: "qemu-an386", **kw: object) -> Fleet:
        devs = {f"d{i:03d}": DeviceView(f"d{i:03d}", board(i), OLD) for i in range(n)}
        return Fleet(devs, target=list(devs), **kw)  # type: ignore[arg-type]

    def snapshot(self, rollout_id: str) -> FleetSnapshot:
        views = {}
        for d, v in self.devices.items():
            views[d] = replace(v, active_rollout=self.holder.get(d))
        return FleetSnapshot(
            tuple(self.target), views, dict(self.telemetry), dict(self.baselines), dict(self.counters)
        )

    def apply(self, rollout_id: str, dec: Decision) -> None:
        for a in (*dec.assign, *dec.retry):
            assert a.device_id not in self.holder or self.holder[a.device_id] == rollout_id
            self.holder[a.device_id] = rollout_id
            v = self.devices[a.device_id]
            self.history.setdefault(a.device_id, [v.current])
            how = self.behaviour(a.device_id)
            if how == "confirm":
                self.devices[a.device_id] = replace(v, current=a.version, outcome=DeviceOutcome.CONFIRMED)
            elif how == "fail":
                self.devices[a.device_id] = replace(v, outcome=DeviceOutcome.FAILED)
            else:
                self.devices[a.device_id] = replace(v, outcome=DeviceOutcome.PENDING)
        for r in dec.rollback:  # desired model None means "keep what you have" (tinyfleet.wire)
            v = self.devices[r.device_id]
            self.devices[r.device_id] = replace(v, current=r.version or v.current, outcome=DeviceOutcome.NONE)
        for d in dec.release:
            if self.holder.get(d) == rollout_id:
                del self.holder[d]


@dataclass
class Run:
    """One rollout driven against a Fleet, keeping the whole event log."""

    fleet: Fleet
    state: RolloutState
    events: list[Event]
    decisions: list[Decision] = field(default_factory=list)
    now: float = 0.0

    @staticmethod
    def start(fleet: Fleet, s: RolloutSpec, rollout_id: str = "r1") -> Run:
        state, ev = create(rollout_id, s, 0.0)
        return Run(fleet, state, [ev])

    def _take(self, dec: Decision) -> Decision:
        self.fleet.apply(self.state.rollout_id, dec)
        self.state = dec.state
        self.events.extend(dec.events)
        self.decisions.append(dec)
        return dec

    def tick(self, dt: float = 1.0) -> Decision:
        self.now += dt
        return self._take(step(self.state, self.fleet.snapshot(self.state.rollout_id), self.now))

    def ticks(self, n: int, dt: float = 1.0) -> None:
        for _ in range(n):
            self.tick(dt)

    def cmd(self, c: Command | str, by: str = "op") -> Decision:
        return self._take(command(self.state, c, self.now, by=by))

    def replayed(self) -> RolloutState:
        return replay(self.events)

    def triggers(self) -> list[str]:
        return [e.trigger.value for e in self.events if e.trigger is not None]
