"""The status of a rollout: the one home of its values, their meaning and which are terminal.

The server's engine (transition table), its database column (an Enum of these values), the API's
``?active=true`` filter, the CLI and the demo all read :data:`TERMINAL` / :data:`ACTIVE` from here;
docs/rollouts.md is generated from :data:`MEANING`.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ACTIVE", "MEANING", "TERMINAL", "RolloutStatus"]


class RolloutStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    SOAKING = "soaking"
    WAITING_APPROVAL = "waiting_approval"
    PAUSED = "paused"
    HELD = "held"
    ABORTING = "aborting"
    SUCCEEDED = "succeeded"
    ABORTED = "aborted"
    ROLLED_BACK = "rolled_back"
    ROLLED_BACK_PARTIALLY = "rolled_back_partially"


MEANING: dict[RolloutStatus, str] = {
    RolloutStatus.CREATED: "stored; nothing assigned yet (the next tick starts it)",
    RolloutStatus.RUNNING: "the current stage assigns devices up to its share and waits for its success threshold",
    RolloutStatus.SOAKING: "the stage reached its success threshold; waiting out the soak time and the health gate",
    RolloutStatus.WAITING_APPROVAL: "the next stage needs an operator's promote before it assigns anything",
    RolloutStatus.PAUSED: "stopped by an operator: no assignments, no gate decisions; device results are still recorded",
    RolloutStatus.HELD: "stopped by an ML health gate with action hold; an operator resumes, promotes or aborts",
    RolloutStatus.ABORTING: "every touched device was sent its previous version; waiting until each runs it again or refuses it",
    RolloutStatus.SUCCEEDED: "terminal: the last stage passed",
    RolloutStatus.ABORTED: "terminal: aborted before any device was touched",
    RolloutStatus.ROLLED_BACK: "terminal: aborted, and every touched device runs its previous version again",
    RolloutStatus.ROLLED_BACK_PARTIALLY: (
        "terminal: aborted; some devices refused their previous version (anti-rollback: their security "
        "counter is higher) and keep the new one (listed per device as `rollback_refused`)"
    ),
}

TERMINAL: frozenset[RolloutStatus] = frozenset(
    {
        RolloutStatus.SUCCEEDED,
        RolloutStatus.ABORTED,
        RolloutStatus.ROLLED_BACK,
        RolloutStatus.ROLLED_BACK_PARTIALLY,
    }
)
ACTIVE: frozenset[RolloutStatus] = frozenset(set(RolloutStatus) - TERMINAL)
