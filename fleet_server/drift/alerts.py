"""Drift alerts with hysteresis: raise above ``high``, clear below ``low``, never on too few samples.

An alert is raised when ``value > high`` and cleared when ``value < low`` (``low <= high``); between
the two it keeps its state, so a score hovering around one threshold does not flap. A reading on
fewer than ``min_samples`` inferences (or with no score) changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tinyfleet.errors import UsageError

__all__ = ["AlertChange", "AlertEvent", "AlertRule", "AlertState", "run", "update"]


@dataclass(frozen=True)
class AlertRule:
    high: float
    low: float
    min_samples: int = 100

    def __post_init__(self) -> None:
        if not (
            isinstance(self.high, (int, float))
            and isinstance(self.low, (int, float))
            and math.isfinite(self.high)
            and math.isfinite(self.low)
        ):
            raise UsageError("alert thresholds must be finite numbers")
        if self.low > self.high:
            raise UsageError(f"alert low {self.low:g} must not exceed high {self.high:g}")
        if (
            not isinstance(self.min_samples, int)
            or isinstance(self.min_samples, bool)
            or self.min_samples < 1
        ):
            raise UsageError("alert min_samples must be an integer >= 1")


@dataclass(frozen=True)
class AlertState:
    active: bool = False
    since: float | None = None  # when it was raised (or cleared)
    value: float | None = None  # the reading that changed it


class AlertChange(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


@dataclass(frozen=True)
class AlertEvent:
    change: AlertChange
    at: float
    value: float
    n: int
    threshold: float


def update(
    rule: AlertRule, state: AlertState, value: float | None, n: int, now: float
) -> tuple[AlertState, AlertEvent | None]:
    """The alert state after one reading (``value`` on ``n`` inferences at ``now``)."""
    if value is None or not math.isfinite(value) or n < rule.min_samples:
        return state, None
    if not state.active and value > rule.high:
        return AlertState(True, now, value), AlertEvent(AlertChange.RAISED, now, value, n, rule.high)
    if state.active and value < rule.low:
        return AlertState(False, now, value), AlertEvent(AlertChange.CLEARED, now, value, n, rule.low)
    return state, None


def run(
    rule: AlertRule, readings: Iterable[tuple[float, float | None, int]], state: AlertState | None = None
) -> tuple[AlertState, list[AlertEvent]]:
    """Fold ``(time, value, n)`` readings in time order; returns the final state and the changes."""
    st = state or AlertState()
    events: list[AlertEvent] = []
    for t, v, n in readings:
        st, ev = update(rule, st, v, n, t)
        if ev is not None:
            events.append(ev)
    return st, events
