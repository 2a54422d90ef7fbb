"""Which devices a stage assigns: deterministic, never beyond the stage's share, never incompatible.

A stage's *cap* is the number of devices the rollout may have touched once the stage is full:

- named devices: the devices touched by earlier stages plus the named ones;
- ``count``: ``count``;
- ``percent``: ``floor(N * percent / 100)`` for a target of N devices (exact decimal arithmetic).

The planner tops the rollout up to the cap from the target in a fixed order (the named order, else
sha256(rollout id : device id), so the choice does not depend on how the database sorts rows) and
passes over devices that

- are held by another rollout (one active rollout per device; they may be picked on a later tick),
- are reported as *skipped* once, with reasons, and never assigned: incompatible with the package
  (``compat.check``), already running the package, named but not in the target, or unknown.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from tinyfleet.server.rollout import compat
from tinyfleet.server.rollout.events import RolloutState
from tinyfleet.server.rollout.model import FleetSnapshot, Stage, VersionRef

__all__ = ["Plan", "plan", "rank", "stage_cap"]


@dataclass(frozen=True)
class Plan:
    assign: tuple[tuple[str, VersionRef | None], ...] = ()  # (device, version it runs now)
    skipped: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    withheld: bool = False  # a device could be assigned but ``limit`` (window, bandwidth) was reached


def rank(rollout_id: str, device_id: str) -> str:
    return hashlib.sha256(f"{rollout_id}:{device_id}".encode()).hexdigest()


def stage_cap(stage: Stage, target_size: int, touched_before: set[str]) -> int:
    """How many devices the rollout may have touched when ``stage`` is full."""
    if stage.devices:
        return len(touched_before | set(stage.devices))
    if stage.count is not None:
        return stage.count
    assert stage.percent is not None
    return math.floor(Decimal(target_size) * Decimal(repr(stage.percent)) / 100)


def plan(
    state: RolloutState,
    snapshot: FleetSnapshot,
    runtime_ops: Mapping[str, frozenset[str] | None] = compat.RUNTIME_OPS,
    limit: int | None = None,
) -> Plan:
    """Devices to assign now in the current stage (``state.stage``) and devices newly skipped;
    at most ``limit`` assignments (None: up to the stage's cap)."""
    spec = state.spec
    stage = spec.stages[state.stage]
    touched = state.devices
    # only a stage of named devices needs the set touched before it (the others cap by number)
    before = {d for d, r in touched.items() if r.stage < state.stage} if stage.devices else set()
    room = stage_cap(stage, len(snapshot.target), before) - len(touched)
    if room <= 0:
        return Plan()
    target = set(snapshot.target)
    order = list(stage.devices) if stage.devices else sorted(target, key=lambda d: rank(state.rollout_id, d))
    package = spec.package.ref
    assign: list[tuple[str, VersionRef | None]] = []
    skipped: dict[str, tuple[str, ...]] = {}
    for d in order:
        if room <= 0:
            break
        if d in touched or d in state.skipped:
            continue
        if d not in target:
            skipped[d] = ("not in the rollout's target",)
            continue
        view = snapshot.devices.get(d)
        if view is None:
            skipped[d] = ("unknown device",)
            continue
        if view.active_rollout not in (None, state.rollout_id):
            continue
        if package.same_model(view.current):
            skipped[d] = (f"already runs {package.key}",)
            continue
        reasons = compat.check(view, spec.package, runtime_ops)
        if reasons:
            skipped[d] = reasons
            continue
        if limit is not None and len(assign) >= limit:
            return Plan(tuple(assign), skipped, withheld=True)
        assign.append((d, view.current))
        room -= 1
    return Plan(tuple(assign), skipped)
