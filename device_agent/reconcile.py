"""The model update as one explicit state machine: a transition table, a journal, an executor.

Every update walks DOWNLOAD → VERIFY → INSTALL → LOAD → SELF_TEST → SWAP → CONFIRM → DONE, or
leaves through ROLLBACK. What each step *does* is supplied by the device kind (Linux agent, MCU
gateway, simulator) as an :class:`UpdateSteps`; *where it goes next* is only in ``TRANSITIONS``.
Each transition names the event reported to the server.

Crash safety: the journal (``update.json``) is written atomically before each step is entered.
After a crash or power cut, :meth:`Executor.recover` finds a journal that is not terminal, runs the
ROLLBACK step (the previous model is what serves) and counts the attempt; the retained desired state
then starts the update again, until ``max_attempts`` interrupted tries of one deployment give up.
Anti-rollback: the security counter floor is raised only in CONFIRM.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from tinyfleet.fsutil import atomic_write_text
from tinyfleet.wire import DesiredModel, DesiredState, EventType, UpdateState, convert, to_dict

__all__ = [
    "TRANSITIONS",
    "Action",
    "Executor",
    "Journal",
    "Outcome",
    "PowerCut",
    "Step",
    "StepResult",
    "UpdateSteps",
    "decide",
    "next_step",
    "transition_table_markdown",
]

log = logging.getLogger(__name__)


class Step(StrEnum):
    IDLE = "idle"
    DOWNLOAD = "download"
    VERIFY = "verify"
    INSTALL = "install"
    LOAD = "load"
    SELF_TEST = "self_test"
    SWAP = "swap"
    CONFIRM = "confirm"
    ROLLBACK = "rollback"
    DONE = "done"  # terminal: the new model serves and is confirmed
    ROLLED_BACK = "rolled_back"  # terminal: the previous model serves
    FAILED = "failed"  # terminal: the previous model serves; nothing was activated


TERMINAL = frozenset({Step.IDLE, Step.DONE, Step.ROLLED_BACK, Step.FAILED})
FIRST = Step.DOWNLOAD


class Outcome(StrEnum):
    OK = "ok"
    RETRY = "retry"  # transient (cut download, corrupt bytes): this step again, within its budget
    FAIL = "fail"
    INCOMPATIBLE = "incompatible"  # the package cannot run here (runtime, board)


@dataclass(frozen=True)
class Transition:
    source: Step
    outcome: Outcome
    target: Step
    event: EventType | None


_T = Transition
_E = EventType
# fmt: off
TRANSITIONS: tuple[Transition, ...] = (
    #  from            outcome              to               event reported
    _T(Step.DOWNLOAD,  Outcome.OK,           Step.VERIFY,      _E.DOWNLOADED),
    _T(Step.DOWNLOAD,  Outcome.RETRY,        Step.DOWNLOAD,    None),
    _T(Step.DOWNLOAD,  Outcome.FAIL,         Step.FAILED,      _E.FAILED),
    _T(Step.VERIFY,    Outcome.OK,           Step.INSTALL,     None),
    # a corrupt transfer is downloaded again: reported as progress, since verify_failed is final
    _T(Step.VERIFY,    Outcome.RETRY,        Step.DOWNLOAD,    _E.DOWNLOAD_PROGRESS),
    _T(Step.VERIFY,    Outcome.FAIL,         Step.FAILED,      _E.VERIFY_FAILED),
    _T(Step.VERIFY,    Outcome.INCOMPATIBLE, Step.FAILED,      _E.INCOMPATIBLE),
    _T(Step.INSTALL,   Outcome.OK,           Step.LOAD,        _E.INSTALLED),
    _T(Step.INSTALL,   Outcome.FAIL,         Step.ROLLBACK,    _E.FAILED),
    _T(Step.INSTALL,   Outcome.INCOMPATIBLE, Step.ROLLBACK,    _E.INCOMPATIBLE),
    _T(Step.LOAD,      Outcome.OK,           Step.SELF_TEST,   None),
    _T(Step.LOAD,      Outcome.FAIL,         Step.ROLLBACK,    _E.FAILED),
    _T(Step.SELF_TEST, Outcome.OK,           Step.SWAP,        _E.SELF_TEST_PASSED),
    _T(Step.SELF_TEST, Outcome.FAIL,         Step.ROLLBACK,    _E.SELF_TEST_FAILED),
    _T(Step.SWAP,      Outcome.OK,           Step.CONFIRM,     _E.ACTIVATED),
    _T(Step.SWAP,      Outcome.FAIL,         Step.ROLLBACK,    _E.FAILED),
    _T(Step.CONFIRM,   Outcome.OK,           Step.DONE,        _E.CONFIRMED),
    _T(Step.CONFIRM,   Outcome.FAIL,         Step.ROLLBACK,    _E.FAILED),
    _T(Step.ROLLBACK,  Outcome.OK,           Step.ROLLED_BACK, _E.ROLLED_BACK),
    _T(Step.ROLLBACK,  Outcome.FAIL,         Step.FAILED,      _E.FAILED),
)
# fmt: on
_TABLE: dict[tuple[Step, Outcome], Transition] = {(t.source, t.outcome): t for t in TRANSITIONS}

# What DeviceState.update says while a step runs (wire contract values).
UPDATE_STATUS: dict[Step, UpdateState] = {
    Step.IDLE: UpdateState.IDLE,
    Step.DOWNLOAD: UpdateState.DOWNLOADING,
    Step.VERIFY: UpdateState.VERIFYING,
    Step.INSTALL: UpdateState.INSTALLING,
    Step.LOAD: UpdateState.INSTALLING,
    Step.SELF_TEST: UpdateState.TESTING,
    Step.SWAP: UpdateState.TESTING,
    Step.CONFIRM: UpdateState.TESTING,
    Step.ROLLBACK: UpdateState.TESTING,
    Step.DONE: UpdateState.CONFIRMED,
    Step.ROLLED_BACK: UpdateState.ROLLED_BACK,
    Step.FAILED: UpdateState.FAILED,
}


def next_step(step: Step, outcome: Outcome) -> Transition:
    """The one place that decides where an update goes; unknown pairs are a programming error."""
    try:
        return _TABLE[(step, outcome)]
    except KeyError:
        raise ValueError(f"no transition from {step.value} on {outcome.value}") from None


@dataclass(frozen=True)
class StepResult:
    outcome: Outcome
    detail: str = ""

    @classmethod
    def ok(cls, detail: str = "") -> StepResult:
        return cls(Outcome.OK, detail)


class PowerCut(BaseException):
    """Injected by tests: the process dies here (nothing after it runs, no cleanup)."""


@dataclass
class Journal:
    """What survives a power cut: the update in progress and how often it was tried."""

    deployment_id: str = ""
    target: dict[str, Any] | None = None  # DesiredModel as JSON
    step: Step = Step.IDLE
    attempts: int = 0  # interrupted or failed runs of this deployment
    previous: dict[str, Any] = field(default_factory=dict)  # device-specific: what served before
    detail: str = ""
    updated: float = 0.0

    @classmethod
    def load(cls, path: Path) -> Journal:
        try:
            raw = json.loads(path.read_text("utf-8"))
            raw["step"] = Step(raw.get("step", "idle"))
            return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})
        except FileNotFoundError:
            return cls()
        except (ValueError, TypeError, json.JSONDecodeError):
            log.warning("unreadable update journal %s; starting clean", path)
            return cls()

    def save(self, path: Path) -> None:
        self.updated = time.time()
        data = asdict(self)
        data["step"] = self.step.value
        atomic_write_text(path, json.dumps(data, sort_keys=True))

    @property
    def model(self) -> DesiredModel | None:
        return convert(self.target, DesiredModel) if self.target else None


class Action(StrEnum):
    NOTHING = "nothing"
    START = "start"


def decide(
    desired: DesiredState, active_sha256: str | None, journal: Journal, max_attempts: int
) -> tuple[Action, str]:
    """Pure: should this desired state start an update? (action, reason)"""
    model = desired.model
    if model is None:
        return Action.NOTHING, "desired state names no model"
    if model.sha256 == active_sha256:
        return Action.NOTHING, "already running the desired model"
    same = (
        journal.deployment_id == desired.deployment_id
        and journal.target is not None
        and journal.target.get("sha256") == model.sha256
    )
    if same and journal.step in (Step.FAILED, Step.ROLLED_BACK) and journal.attempts >= max_attempts:
        return Action.NOTHING, f"deployment {desired.deployment_id} already failed {journal.attempts} time(s)"
    if same and journal.step in (Step.FAILED, Step.ROLLED_BACK) and journal.detail.startswith("final:"):
        return Action.NOTHING, f"deployment {desired.deployment_id} was refused: {journal.detail[6:]}"
    return Action.START, "new model"


class UpdateSteps(Protocol):
    """What a device kind does at each step; each returns a StepResult (never raises for expected failures)."""

    async def download(self, model: DesiredModel, attempt: int) -> StepResult: ...
    async def verify(self, model: DesiredModel) -> StepResult: ...
    async def install(self, model: DesiredModel) -> StepResult: ...
    async def load(self, model: DesiredModel) -> StepResult: ...
    async def self_test(self, model: DesiredModel) -> StepResult: ...
    async def swap(self, model: DesiredModel) -> StepResult: ...
    async def confirm(self, model: DesiredModel) -> StepResult: ...
    async def rollback(self, model: DesiredModel | None, previous: dict[str, Any]) -> StepResult: ...
    def snapshot_previous(self) -> dict[str, Any]: ...


EventSink = Callable[[EventType, DesiredModel | None, str, float | None], Awaitable[None]]
StatusSink = Callable[[Step], Awaitable[None]]
FaultHook = Callable[[str, Step], None]

# Outcomes after which retrying this deployment cannot help (the result is final).
_FINAL_EVENTS = {EventType.VERIFY_FAILED, EventType.INCOMPATIBLE, EventType.SELF_TEST_FAILED}


class Executor:
    """Runs one update through the table, saving the journal before every step."""

    def __init__(
        self,
        journal_path: Path | None,
        steps: UpdateSteps,
        emit: EventSink,
        status: StatusSink,
        max_attempts: int = 3,
        retries: int = 5,
        retry_delay_s: float = 0.5,
        fault: FaultHook | None = None,
    ) -> None:
        self.journal_path = journal_path
        self.steps = steps
        self.emit = emit
        self.status = status
        self.max_attempts = max_attempts
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.fault = fault or (lambda _when, _step: None)
        self.journal = Journal.load(journal_path) if journal_path is not None else Journal()

    def _enter(self, step: Step, detail: str = "") -> None:
        self.fault("before", step)
        self.journal.step = step
        self.journal.detail = detail
        if self.journal_path is not None:  # the simulator keeps its journal in memory
            self.journal.save(self.journal_path)

    async def recover(self) -> Step | None:
        """At start-up: finish an interrupted update by rolling back. Returns the terminal step, if any."""
        j = self.journal
        if j.step in TERMINAL:
            return None
        interrupted = j.step
        j.attempts += 1
        self._enter(Step.ROLLBACK, f"interrupted during {interrupted.value}")
        res = await self.steps.rollback(j.model, j.previous)
        t = next_step(Step.ROLLBACK, res.outcome)
        detail = f"interrupted during {interrupted.value}; attempt {j.attempts} of {self.max_attempts}"
        self._enter(t.target, detail)
        if t.event is not None:
            await self.emit(t.event, j.model, detail, None)
        await self.status(t.target)
        return t.target

    async def run(self, desired: DesiredState) -> Step:
        model = desired.model
        assert model is not None
        j = self.journal
        if j.deployment_id != desired.deployment_id or (j.target or {}).get("sha256") != model.sha256:
            j.attempts = 0
        j.deployment_id = desired.deployment_id
        j.target = to_dict(model)
        j.previous = self.steps.snapshot_previous()
        step = FIRST
        tries: dict[Step, int] = {}
        final_reason = ""
        self._enter(step)
        await self.status(step)
        await self.emit(EventType.DOWNLOAD_STARTED, model, "", 0.0)
        while step not in TERMINAL:
            res = await self._run_step(step, model, tries.get(step, 0))
            self.fault("after", step)
            outcome = res.outcome
            if outcome is Outcome.RETRY:
                tries[step] = tries.get(step, 0) + 1
                if sum(tries.values()) > self.retries:
                    outcome = Outcome.FAIL
            t = next_step(step, outcome)
            if t.event is not None:
                await self.emit(t.event, model, res.detail, None)
            if t.target is Step.DOWNLOAD and outcome is Outcome.RETRY:
                await asyncio.sleep(self.retry_delay_s * min(8, 2 ** (sum(tries.values()) - 1)))
            if t.event in _FINAL_EVENTS:
                final_reason = res.detail[:150] or t.event.value
            step = t.target
            if step in (Step.FAILED, Step.ROLLED_BACK):
                j.attempts += 1
            self._enter(
                step, f"final:{final_reason}" if final_reason and step in TERMINAL else res.detail[:150]
            )
            await self.status(step)
        return step

    async def _run_step(self, step: Step, model: DesiredModel, attempt: int) -> StepResult:
        s = self.steps
        try:
            if step is Step.DOWNLOAD:
                return await s.download(model, attempt)
            if step is Step.VERIFY:
                return await s.verify(model)
            if step is Step.INSTALL:
                return await s.install(model)
            if step is Step.LOAD:
                return await s.load(model)
            if step is Step.SELF_TEST:
                return await s.self_test(model)
            if step is Step.SWAP:
                return await s.swap(model)
            if step is Step.CONFIRM:
                return await s.confirm(model)
            if step is Step.ROLLBACK:
                return await s.rollback(model, self.journal.previous)
        except Exception as exc:
            log.exception("update step %s failed", step.value)
            return StepResult(Outcome.FAIL, f"{step.value}: {type(exc).__name__}: {exc}"[:200])
        raise ValueError(f"step {step.value} has no action")


def transition_table_markdown() -> str:
    """The transition table as a Markdown table (docs/agent.md embeds it; a test keeps them equal)."""
    lines = ["| from | outcome | to | event reported |", "|---|---|---|---|"]
    for t in TRANSITIONS:
        lines.append(
            f"| {t.source.value} | {t.outcome.value} | {t.target.value} | {t.event.value if t.event else '—'} |"
        )
    return "\n".join(lines)
