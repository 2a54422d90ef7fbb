"""Rollout states, triggers and the one transition table (docs/rollouts.md is generated from it).

Every state change of a rollout is a row of :data:`TRANSITIONS`: (state, trigger) → next state, and
whether the row moves the stage pointer to the next stage. ``events.apply`` refuses any transition
that is not a row, so a replayed log can only walk paths of this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tinyfleet.rollout_status import ACTIVE, MEANING, TERMINAL, RolloutStatus

__all__ = [
    "ACTIVE",
    "STATUS_MEANING",
    "TERMINAL",
    "TRANSITIONS",
    "Row",
    "Status",
    "Trigger",
    "lookup",
    "markdown_table",
]


Status = RolloutStatus  # the contract enum (tinyfleet.rollout_status): one home for its values
STATUS_MEANING: dict[Status, str] = MEANING


class Trigger(StrEnum):
    # from ticks (machine decisions)
    START = "start"
    START_APPROVAL = "start_approval"
    SUCCESS_MET = "success_met"
    SUCCESS_LOST = "success_lost"
    STAGE_PASSED = "stage_passed"
    STAGE_PASSED_APPROVAL = "stage_passed_approval"
    LAST_STAGE_PASSED = "last_stage_passed"
    ERROR_THRESHOLD = "error_threshold"
    HEALTH_HOLD = "health_hold"
    HEALTH_ROLLBACK = "health_rollback"
    ALL_RESTORED = "all_restored"
    PARTLY_RESTORED = "partly_restored"
    # from operators (commands)
    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"
    PROMOTE_APPROVAL = "promote_approval"
    PROMOTE_LAST = "promote_last"
    ABORT = "abort"


@dataclass(frozen=True)
class Row:
    source: Status
    trigger: Trigger
    target: Status
    advance: bool  # the stage pointer moves to the next stage
    meaning: str


S, T = Status, Trigger
# fmt: off
TRANSITIONS: tuple[Row, ...] = (
    Row(S.CREATED,          T.START,                 S.RUNNING,          True,  "first tick: stage 1 starts"),
    Row(S.CREATED,          T.START_APPROVAL,        S.WAITING_APPROVAL, True,  "first tick: stage 1 needs approval"),
    Row(S.CREATED,          T.ABORT,                 S.ABORTED,          False, "operator abort before anything was assigned"),
    Row(S.RUNNING,          T.SUCCESS_MET,           S.SOAKING,          False, "confirmed share >= success threshold"),
    Row(S.RUNNING,          T.ERROR_THRESHOLD,       S.ABORTING,         False, "failures above the error threshold: roll back"),
    Row(S.RUNNING,          T.HEALTH_ROLLBACK,       S.ABORTING,         False, "an ML health gate (action rollback) failed"),
    Row(S.RUNNING,          T.HEALTH_HOLD,           S.HELD,             False, "an ML health gate (action hold) failed"),
    Row(S.RUNNING,          T.PAUSE,                 S.PAUSED,           False, "operator pause"),
    Row(S.RUNNING,          T.PROMOTE,               S.RUNNING,          True,  "operator promote: next stage starts now"),
    Row(S.RUNNING,          T.PROMOTE_APPROVAL,      S.WAITING_APPROVAL, True,  "operator promote: next stage needs approval"),
    Row(S.RUNNING,          T.PROMOTE_LAST,          S.SUCCEEDED,        False, "operator promote of the last stage"),
    Row(S.RUNNING,          T.ABORT,                 S.ABORTING,         False, "operator abort: roll back"),
    Row(S.SOAKING,          T.SUCCESS_LOST,          S.RUNNING,          False, "confirmed share fell below the threshold"),
    Row(S.SOAKING,          T.ERROR_THRESHOLD,       S.ABORTING,         False, "failures above the error threshold: roll back"),
    Row(S.SOAKING,          T.HEALTH_ROLLBACK,       S.ABORTING,         False, "an ML health gate (action rollback) failed"),
    Row(S.SOAKING,          T.HEALTH_HOLD,           S.HELD,             False, "an ML health gate (action hold) failed"),
    Row(S.SOAKING,          T.STAGE_PASSED,          S.RUNNING,          True,  "soak over, health passed: next stage starts"),
    Row(S.SOAKING,          T.STAGE_PASSED_APPROVAL, S.WAITING_APPROVAL, True,  "soak over, health passed: next stage needs approval"),
    Row(S.SOAKING,          T.LAST_STAGE_PASSED,     S.SUCCEEDED,        False, "soak over, health passed on the last stage"),
    Row(S.SOAKING,          T.PAUSE,                 S.PAUSED,           False, "operator pause"),
    Row(S.SOAKING,          T.PROMOTE,               S.RUNNING,          True,  "operator promote: next stage starts now"),
    Row(S.SOAKING,          T.PROMOTE_APPROVAL,      S.WAITING_APPROVAL, True,  "operator promote: next stage needs approval"),
    Row(S.SOAKING,          T.PROMOTE_LAST,          S.SUCCEEDED,        False, "operator promote of the last stage"),
    Row(S.SOAKING,          T.ABORT,                 S.ABORTING,         False, "operator abort: roll back"),
    Row(S.WAITING_APPROVAL, T.PROMOTE,               S.RUNNING,          False, "operator approval: the stage starts"),
    Row(S.WAITING_APPROVAL, T.ABORT,                 S.ABORTING,         False, "operator abort: roll back"),
    Row(S.HELD,             T.RESUME,                S.RUNNING,          False, "operator resume: gates are evaluated again"),
    Row(S.HELD,             T.PROMOTE,               S.RUNNING,          True,  "operator override: next stage starts now"),
    Row(S.HELD,             T.PROMOTE_APPROVAL,      S.WAITING_APPROVAL, True,  "operator override: next stage needs approval"),
    Row(S.HELD,             T.PROMOTE_LAST,          S.SUCCEEDED,        False, "operator override on the last stage"),
    Row(S.HELD,             T.ABORT,                 S.ABORTING,         False, "operator abort: roll back"),
    Row(S.PAUSED,           T.RESUME,                S.RUNNING,          False, "operator resume"),
    Row(S.PAUSED,           T.ABORT,                 S.ABORTING,         False, "operator abort: roll back"),
    Row(S.ABORTING,         T.ALL_RESTORED,          S.ROLLED_BACK,      False, "every touched device runs its previous version"),
    Row(S.ABORTING,         T.PARTLY_RESTORED,       S.ROLLED_BACK_PARTIALLY, False, "every touched device is back or refused its previous version (anti-rollback); some refused"),
)
# fmt: on
del S, T

_INDEX: dict[tuple[Status, Trigger], Row] = {(r.source, r.trigger): r for r in TRANSITIONS}
assert len(_INDEX) == len(TRANSITIONS), "duplicate (state, trigger) row"


def lookup(source: Status, trigger: Trigger) -> Row | None:
    """The row for ``trigger`` in ``source``, or None when the table has none."""
    return _INDEX.get((source, trigger))


def markdown_table() -> str:
    """The states and the transition table as Markdown (docs/rollouts.md embeds this text)."""
    lines = ["| state | meaning |", "|---|---|"]
    lines += [f"| `{s.value}` | {STATUS_MEANING[s]} |" for s in Status]
    lines += ["", "| from | trigger | to | next stage | meaning |", "|---|---|---|---|---|"]
    lines += [
        f"| `{r.source.value}` | `{r.trigger.value}` | `{r.target.value}` | {'yes' if r.advance else ''} | {r.meaning} |"
        for r in TRANSITIONS
    ]
    return "\n".join(lines) + "\n"
