"""Rollout specification and the inputs of the engine: typed, validated when created.

A :class:`RolloutSpec` says which package goes to which devices in which stages, and what each
stage must show before the next one starts. Every parameter reaches a decision in ``gates.py`` /
``machine.py`` and is validated here, when the rollout is created, with a one-line
:class:`~tinyfleet.errors.UsageError`. The scheduler gives the engine a :class:`FleetSnapshot` each
tick: the devices of the target (and every device the rollout touched), their install outcome for
this rollout, and their telemetry windows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tinyfleet.errors import UsageError
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.cohort import Signal as DriftSignal
from tinyfleet.server.drift.window import Window
from tinyfleet.server.rollout.codec import from_json, to_json
from tinyfleet.server.rollout.window import Cron, compiled, in_window, zone
from tinyfleet.wire import DEVICE_ID_RE

__all__ = [
    "HEALTH_GATES",
    "MAX_RETRIES",
    "MAX_STAGES",
    "DeviceOutcome",
    "DeviceView",
    "DriftSignal",
    "ErrorThreshold",
    "FleetSnapshot",
    "GateAction",
    "GateKind",
    "HealthBound",
    "HealthGate",
    "MaintenanceWindow",
    "PackageInfo",
    "RetryPolicy",
    "RolloutSpec",
    "Stage",
    "Target",
    "VersionRef",
]

MAX_STAGES = 20
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")  # "\Z": "$" accepts a final newline
_SHA_RE = re.compile(r"^[0-9a-f]{64}\Z")
_VERSION_RE = re.compile(r"^\d{1,5}\.\d{1,5}\.\d{1,5}\Z")


class GateKind(StrEnum):
    """Every gate the engine evaluates; ``gates.EVALUATORS`` has one evaluator per member."""

    ERROR_COUNT = "error_count"  # failed devices of the stage  > max_failed        → abort
    ERROR_SHARE = "error_share"  # failed / assigned            > max_failed_share  → abort
    SUCCESS_SHARE = "success_share"  # confirmed / assigned    >= success_share     → soak
    DRIFT = "drift"  # canary drift − control drift          > bound → action
    CONFIDENCE_DROP = "confidence_drop"  # control conf − canary conf   > bound → action
    ERROR_RATE = "error_rate"  # canary err rate − control err rate     > bound → action
    LATENCY_P95 = "latency_p95"  # canary p95 / control p95          > bound → action
    EST_ACCURACY_DROP = "est_accuracy_drop"  # control − canary label-free accuracy > bound → action


HEALTH_GATES = (
    GateKind.DRIFT,
    GateKind.CONFIDENCE_DROP,
    GateKind.ERROR_RATE,
    GateKind.LATENCY_P95,
    GateKind.EST_ACCURACY_DROP,
)


class GateAction(StrEnum):
    HOLD = "hold"  # stop in HELD until an operator resumes, promotes or aborts
    ROLLBACK = "rollback"  # abort and return every touched device to its previous version


class DeviceOutcome(StrEnum):
    """A device's install result for *this* rollout, as the server derived it from device events."""

    NONE = "none"  # nothing reported for this rollout yet (or not assigned)
    PENDING = "pending"  # downloading / verifying / installing / testing
    CONFIRMED = "confirmed"  # `confirmed` event: running the new version
    FAILED = "failed"  # verify_failed, self_test_failed, rolled_back, incompatible or failed


def _require(ok: bool, msg: str) -> None:
    if not ok:
        raise UsageError(msg)


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class VersionRef:
    """A model version a device runs or is sent: name, semantic version, package sha256."""

    name: str
    version: str
    sha256: str = ""

    @property
    def key(self) -> str:
        """``name@version``: the key of drift baselines in :class:`FleetSnapshot`."""
        return f"{self.name}@{self.version}"

    def same_model(self, other: VersionRef | None) -> bool:
        """Same version; digests are compared when both sides know them."""
        if other is None or (self.name, self.version) != (other.name, other.version):
            return False
        return not (self.sha256 and other.sha256) or self.sha256 == other.sha256


@dataclass(frozen=True)
class PackageInfo:
    """What the engine needs from a package manifest (``compat.package_info`` builds it)."""

    name: str
    version: str
    sha256: str
    boards: tuple[str, ...]
    ops: tuple[str, ...]
    arena_bytes: int
    flash_bytes: int
    security_counter: int = 0
    size: int = 0  # bytes of the package file (what a device downloads); 0: unknown

    @property
    def ref(self) -> VersionRef:
        return VersionRef(self.name, self.version, self.sha256)

    def validate(self) -> None:
        _require(bool(_ID_RE.match(self.name)), f"package name {self.name!r} is not a valid model name")
        _require(
            bool(_VERSION_RE.match(self.version)),
            f"package version {self.version!r} is not MAJOR.MINOR.PATCH",
        )
        _require(bool(_SHA_RE.match(self.sha256)), "package sha256 must be 64 lowercase hex characters")
        _require(len(self.boards) > 0, "package lists no boards")
        _require(
            _is_int(self.arena_bytes) and self.arena_bytes >= 0, "package arena_bytes must be an integer >= 0"
        )
        _require(
            _is_int(self.flash_bytes) and self.flash_bytes > 0, "package flash_bytes must be an integer > 0"
        )


@dataclass(frozen=True)
class Target:
    """The devices a rollout is for: a named group or a tag selector (the server resolves either)."""

    group: str | None = None
    selector: Mapping[str, str] | None = None

    def validate(self) -> None:
        _require(
            (self.group is None) != (self.selector is None), "target: give exactly one of group or selector"
        )
        if self.group is not None:
            _require(bool(_ID_RE.match(self.group)), f"target group {self.group!r} is not a valid group name")
        if self.selector is not None:
            _require(len(self.selector) > 0, "target selector must name at least one tag")


@dataclass(frozen=True)
class ErrorThreshold:
    """When a stage's failures abort the rollout. Both limits may be set; either one fires.

    - ``max_failed``: failures tolerated; fires when ``failed > max_failed`` (0: the first failure aborts);
    - ``max_failed_share``: share tolerated; fires when ``failed / assigned > max_failed_share``.
    An empty stage (nothing assigned) never fires.
    """

    max_failed: int | None = None
    max_failed_share: float | None = 0.05

    def validate(self, where: str) -> None:
        _require(
            self.max_failed is not None or self.max_failed_share is not None,
            f"{where}: error threshold needs max_failed or max_failed_share",
        )
        if self.max_failed is not None:
            _require(
                _is_int(self.max_failed) and self.max_failed >= 0,
                f"{where}: max_failed must be an integer >= 0",
            )
        if self.max_failed_share is not None:
            _require(
                _finite(self.max_failed_share) and 0.0 <= self.max_failed_share < 1.0,
                f"{where}: max_failed_share must be in [0, 1)",
            )


@dataclass(frozen=True)
class Stage:
    """One stage. Exactly one of ``devices`` (named canaries), ``count`` or ``percent``.

    ``count`` and ``percent`` are cumulative: "10 % then 50 %" means 50 % of the target has the new
    version when the second stage is full. ``percent`` of a target of N devices allows
    ``floor(N * percent / 100)`` devices. ``success_share``: the stage may leave RUNNING when
    ``confirmed / assigned >= success_share`` (an empty stage counts as met). ``soak_s``: seconds to
    wait after that before the stage passes. ``manual_approval``: the stage starts only when an
    operator promotes the rollout.
    """

    name: str
    devices: tuple[str, ...] = ()
    count: int | None = None
    percent: float | None = None
    success_share: float = 1.0
    error: ErrorThreshold = field(default_factory=ErrorThreshold)
    soak_s: float = 0.0
    manual_approval: bool = False

    def validate(self, index: int) -> None:
        where = f"stage {index + 1} ({self.name!r})"
        _require(
            bool(_ID_RE.match(self.name)),
            f"stage {index + 1}: name must be 1-64 of letters, digits, '.', '_', ':', '-'",
        )
        given = sum([len(self.devices) > 0, self.count is not None, self.percent is not None])
        _require(given == 1, f"{where}: give exactly one of devices, count or percent")
        if self.devices:
            for d in self.devices:
                _require(
                    isinstance(d, str) and bool(DEVICE_ID_RE.match(d)),
                    f"{where}: invalid device id {d!r} in devices",
                )
            _require(len(set(self.devices)) == len(self.devices), f"{where}: a device is named twice")
        if self.count is not None:
            _require(_is_int(self.count) and self.count >= 1, f"{where}: count must be an integer >= 1")
        if self.percent is not None:
            _require(
                _finite(self.percent) and 0.0 < self.percent <= 100.0, f"{where}: percent must be in (0, 100]"
            )
        _require(
            _finite(self.success_share) and 0.0 <= self.success_share <= 1.0,
            f"{where}: success_share must be in [0, 1]",
        )
        _require(_finite(self.soak_s) and self.soak_s >= 0.0, f"{where}: soak_s must be a number >= 0")
        _require(isinstance(self.manual_approval, bool), f"{where}: manual_approval must be true or false")
        self.error.validate(where)


@dataclass(frozen=True)
class HealthBound:
    """One ML health gate: canary cohort against control cohort, with the bound that fails it.

    ``DRIFT``: drift score increase (score units of ``HealthGate.metric``); ``CONFIDENCE_DROP``: mean
    confidence drop in [0, 1]; ``ERROR_RATE``: inference error-rate increase in [0, 1];
    ``LATENCY_P95``: ratio canary p95 / control p95 (>= 1). Fails when the value is ``> bound``.
    """

    gate: GateKind
    bound: float
    action: GateAction = GateAction.ROLLBACK

    def validate(self) -> None:
        g = self.gate
        _require(
            g in HEALTH_GATES,
            f"health gate {g.value!r} is not an ML health gate ({', '.join(h.value for h in HEALTH_GATES)})",
        )
        _require(_finite(self.bound), f"health gate {g.value}: bound must be a finite number")
        if g is GateKind.LATENCY_P95:
            _require(
                self.bound >= 1.0, "health gate latency_p95: bound is a ratio canary/control and must be >= 1"
            )
        elif g in (GateKind.CONFIDENCE_DROP, GateKind.ERROR_RATE, GateKind.EST_ACCURACY_DROP):
            _require(0.0 <= self.bound <= 1.0, f"health gate {g.value}: bound must be in [0, 1]")
        else:
            _require(self.bound >= 0.0, f"health gate {g.value}: bound must be >= 0")


@dataclass(frozen=True)
class HealthGate:
    """The ML health gate: evaluated on every tick while a stage runs or soaks.

    Cohorts: canary = devices of this rollout that confirmed the new version; control = target devices
    the rollout has not touched (still on their previous version). A gate waits (and the stage cannot
    pass) until both cohorts have ``min_samples`` inferences in the window; with no control devices
    at all the ML gates are skipped (only install success/error decide).
    """

    bounds: tuple[HealthBound, ...] = ()
    metric: str = "psi"  # psi, js or ks (tinyfleet.drift)
    signal: DriftSignal = DriftSignal.OUTPUT
    min_samples: int = 100
    window_s: float = 3600.0  # telemetry window: the scheduler merges it; the engine ignores older windows
    # an inconclusive gate (verdict wait) holds a soaked stage at most max_wait_s seconds after its
    # soak time (None: until the evidence suffices), then on_timeout: hold for an operator or roll back
    max_wait_s: float | None = None
    on_timeout: GateAction = GateAction.HOLD

    def validate(self) -> None:
        _require(self.metric in ("psi", "js", "ks"), f"health gate metric {self.metric!r}: use psi, js or ks")
        _require(
            _is_int(self.min_samples) and self.min_samples >= 1,
            "health gate min_samples must be an integer >= 1",
        )
        _require(_finite(self.window_s) and self.window_s > 0, "health gate window_s must be a number > 0")
        _require(
            self.max_wait_s is None or (_finite(self.max_wait_s) and self.max_wait_s >= 0),
            "health gate max_wait_s must be a number >= 0",
        )
        _require(isinstance(self.on_timeout, GateAction), "health gate on_timeout must be hold or rollback")
        kinds = [b.gate for b in self.bounds]
        _require(len(set(kinds)) == len(kinds), "health gate: each gate may be given once")
        for b in self.bounds:
            b.validate()


MAX_RETRIES = 10  # as AWS IoT Jobs' retry criteria


@dataclass(frozen=True)
class RetryPolicy:
    """Automatic retries of failed devices: a device that failed is sent the package again after
    ``backoff_s * factor**k`` seconds (k = retries so far), at most ``max_backoff_s``, up to
    ``max_retries`` times. A device counts as failed for the error gates only once its retries are
    used up (while it waits for one it is neither confirmed nor failed)."""

    max_retries: int = 0
    backoff_s: float = 60.0
    factor: float = 2.0
    max_backoff_s: float = 3600.0

    def delay(self, retries_so_far: int) -> float:
        """Seconds from a failure to the next retry."""
        return float(min(self.backoff_s * self.factor ** min(retries_so_far, 64), self.max_backoff_s))

    def validate(self) -> None:
        _require(
            _is_int(self.max_retries) and 0 <= self.max_retries <= MAX_RETRIES,
            f"retry.max_retries must be an integer from 0 to {MAX_RETRIES}",
        )
        _require(
            _finite(self.backoff_s) and 1.0 <= self.backoff_s <= 86400.0,
            "retry.backoff_s must be a number of seconds from 1 to 86400",
        )
        _require(_finite(self.factor) and 1.0 <= self.factor <= 10.0, "retry.factor must be from 1 to 10")
        _require(
            _finite(self.max_backoff_s) and self.backoff_s <= self.max_backoff_s <= 7 * 86400.0,
            "retry.max_backoff_s must be from backoff_s to 604800 (7 days)",
        )


MAX_WINDOW_S = 7 * 86400.0


@dataclass(frozen=True)
class MaintenanceWindow:
    """Devices are sent the desired state (first assignment or retry) only inside a window: from
    each time the 5-field ``cron`` expression fires (wall time in the IANA zone ``tz``) for
    ``duration_s`` seconds. Rollbacks are sent at once, window or not."""

    cron: str
    duration_s: float
    tz: str = "UTC"

    def validate(self) -> None:
        Cron.parse(self.cron)
        _require(
            _finite(self.duration_s) and 60.0 <= self.duration_s <= MAX_WINDOW_S,
            "window.duration_s must be a number of seconds from 60 to 604800 (7 days)",
        )
        _require(
            isinstance(self.tz, str) and 0 < len(self.tz) <= 64, "window.tz must be an IANA time zone name"
        )
        zone(self.tz)

    def open_at(self, now: float) -> bool:
        """Whether ``now`` (UNIX seconds) is inside a window."""
        cron, tz = compiled(self.cron, self.tz)
        return in_window(cron, tz, self.duration_s, now)


@dataclass(frozen=True)
class RolloutSpec:
    """What an operator asks for. ``RolloutSpec.from_json(data)`` validates; so does ``validate()``."""

    package: PackageInfo
    target: Target
    stages: tuple[Stage, ...]
    health: HealthGate = field(default_factory=HealthGate)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    window: MaintenanceWindow | None = None
    bandwidth_bytes_per_min: int | None = None  # package bytes sent per minute across the rollout
    start_at: float | None = None  # UNIX seconds: the rollout stays `created` until then

    def sends_per_minute(self) -> int | None:
        """Devices the bandwidth cap lets start a download per minute (None: no cap)."""
        if self.bandwidth_bytes_per_min is None:
            return None
        return self.bandwidth_bytes_per_min // self.package.size

    def validate(self) -> RolloutSpec:
        self.package.validate()
        self.retry.validate()
        if self.window is not None:
            self.window.validate()
        if self.bandwidth_bytes_per_min is not None:
            _require(
                _is_int(self.bandwidth_bytes_per_min) and self.bandwidth_bytes_per_min >= 1,
                "bandwidth_bytes_per_min must be an integer >= 1",
            )
            _require(self.package.size > 0, "a bandwidth cap needs the package size")
            _require(
                self.bandwidth_bytes_per_min >= self.package.size,
                f"bandwidth_bytes_per_min {self.bandwidth_bytes_per_min} is below the package size "
                f"{self.package.size} B: not one device could download it per minute",
            )
        if self.start_at is not None:
            _require(
                _finite(self.start_at) and 0 < self.start_at < 4102444800,
                "start_at must be a time in UNIX seconds before 2100",
            )
        self.target.validate()
        _require(1 <= len(self.stages) <= MAX_STAGES, f"a rollout needs 1 to {MAX_STAGES} stages")
        names = [s.name for s in self.stages]
        _require(len(set(names)) == len(names), "stage names must be unique")
        last_count, last_percent = 0, 0.0
        for i, s in enumerate(self.stages):
            s.validate(i)
            if s.count is not None:
                _require(
                    s.count >= last_count,
                    f"stage {i + 1} ({s.name!r}): count is cumulative and must not shrink",
                )
                last_count = s.count
            if s.percent is not None:
                _require(
                    s.percent >= last_percent,
                    f"stage {i + 1} ({s.name!r}): percent is cumulative and must not shrink",
                )
                last_percent = s.percent
        self.health.validate()
        return self

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))

    @staticmethod
    def from_json(data: Any) -> RolloutSpec:
        return from_json(RolloutSpec, data, "rollout spec").validate()


@dataclass(frozen=True)
class DeviceView:
    """One device as the scheduler sees it now.

    ``active_rollout``: id of the rollout that holds the device (one active rollout per device), or
    None. ``outcome``: its install result for *this* rollout. ``arena_budget``/``flash_budget``: what
    the device reported (None: the board catalogue decides). ``online`` is for status displays only:
    desired state is retained on the broker, so offline devices are assigned too and converge when
    they return.
    """

    device_id: str
    board: str
    current: VersionRef | None = None
    runtimes: tuple[str, ...] = ()
    active_rollout: str | None = None
    outcome: DeviceOutcome = DeviceOutcome.NONE
    online: bool = True
    arena_budget: int | None = None
    flash_budget: int | None = None
    security_counter: int = 0  # of the model it runs (its anti-rollback floor once confirmed)


@dataclass(frozen=True)
class FleetSnapshot:
    """Everything ``machine.step`` reads, loaded by the scheduler in one transaction.

    ``target``: ids of the devices the rollout's group/selector resolves to now. ``devices``: a view of
    every target device and of every device the rollout touched. ``telemetry``: per device, its merged
    telemetry window (``drift.window.merge``) over ``spec.health.window_s``. ``baselines``: drift
    baselines keyed ``name@version`` for the new package and the versions control devices run.
    ``counters``: security counters keyed ``name@version`` of the versions a rollback sends (the
    engine tells an anti-rollback refusal from another failure with them).
    """

    target: tuple[str, ...]
    devices: Mapping[str, DeviceView]
    telemetry: Mapping[str, Window] = field(default_factory=dict)
    baselines: Mapping[str, Baseline] = field(default_factory=dict)
    counters: Mapping[str, int] = field(default_factory=dict)
    # devices whose view may differ from the previous step's snapshot (None: any may); the engine
    # looks for new results only among them, so a step costs what changed, not the fleet size
    changed: frozenset[str] | None = None
