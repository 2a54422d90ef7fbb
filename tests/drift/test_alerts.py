from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyfleet.errors import UsageError
from tinyfleet.server.drift.alerts import AlertChange, AlertRule, AlertState, run, update

RULE = AlertRule(high=0.25, low=0.1, min_samples=100)


def test_raise_above_high_clear_below_low_hold_between() -> None:
    readings = [(0, 0.25, 500), (1, 0.26, 500), (2, 0.2, 500), (3, 0.1, 500), (4, 0.09, 500), (5, 0.2, 500)]
    state, events = run(RULE, readings)
    assert [(e.change, e.at) for e in events] == [(AlertChange.RAISED, 1), (AlertChange.CLEARED, 4)]
    assert not state.active and state.since == 4


def test_too_few_samples_or_no_score_change_nothing() -> None:
    assert update(RULE, AlertState(), 0.9, 99, 0) == (AlertState(), None)
    assert update(RULE, AlertState(), None, 1000, 0) == (AlertState(), None)
    active = AlertState(True, 0, 0.9)
    assert update(RULE, active, 0.0, 99, 1) == (active, None)


@pytest.mark.parametrize("high,low,n", [(0.1, 0.2, 1), (float("nan"), 0.1, 1), (0.2, 0.1, 0)])
def test_bad_rules_are_refused(high: float, low: float, n: int) -> None:
    with pytest.raises(UsageError):
        AlertRule(high, low, n)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 300)), max_size=40))
def test_alerts_alternate_and_follow_the_thresholds(values: list[tuple[float, int]]) -> None:
    _, events = run(RULE, [(float(t), v, n) for t, (v, n) in enumerate(values)])
    for i, e in enumerate(events):
        assert e.change is (AlertChange.RAISED if i % 2 == 0 else AlertChange.CLEARED)
        assert e.n >= RULE.min_samples
        assert (e.value > RULE.high) if e.change is AlertChange.RAISED else (e.value < RULE.low)
