"""Rollout controls: automatic retries with exponential backoff, maintenance windows, a bandwidth
cap and a scheduled start. Each is validated at creation and reaches the engine's decision; each is
tested on both sides of its boundary (hypothesis where a property fits)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rollout_kit import PKG, Fleet, Run, spec

from tinyfleet.errors import UsageError
from tinyfleet.server.rollout.engine import send_budget
from tinyfleet.server.rollout.events import DeviceStatus, EventKind
from tinyfleet.server.rollout.machine import Status
from tinyfleet.server.rollout.model import (
    ErrorThreshold,
    MaintenanceWindow,
    RetryPolicy,
    RolloutSpec,
    Stage,
    Target,
)
from tinyfleet.server.rollout.window import Cron, in_window, zone

SIZED = replace(PKG, size=10_000)


def _spec(*stages: Stage, **kw: object) -> RolloutSpec:
    return RolloutSpec(SIZED, Target(group="all"), tuple(stages), **kw).validate()  # type: ignore[arg-type]


# -- validation at creation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"retry": RetryPolicy(max_retries=10)}, None),
        ({"retry": RetryPolicy(max_retries=11)}, "max_retries"),
        ({"retry": RetryPolicy(max_retries=-1)}, "max_retries"),
        ({"retry": RetryPolicy(factor=1.0)}, None),
        ({"retry": RetryPolicy(factor=0.99)}, "factor"),
        ({"retry": RetryPolicy(backoff_s=1.0)}, None),
        ({"retry": RetryPolicy(backoff_s=0.5)}, "backoff_s"),
        ({"retry": RetryPolicy(backoff_s=100, max_backoff_s=100)}, None),
        ({"retry": RetryPolicy(backoff_s=100, max_backoff_s=99)}, "max_backoff_s"),
        ({"window": MaintenanceWindow("0 2 * * *", 60)}, None),
        ({"window": MaintenanceWindow("0 2 * * *", 59)}, "duration_s"),
        ({"window": MaintenanceWindow("0 2 * * *", 7 * 86400)}, None),
        ({"window": MaintenanceWindow("0 2 * * *", 7 * 86400 + 1)}, "duration_s"),
        ({"window": MaintenanceWindow("0 2 * *", 3600)}, "5 fields"),
        ({"window": MaintenanceWindow("60 2 * * *", 3600)}, "minute"),
        ({"window": MaintenanceWindow("0 24 * * *", 3600)}, "hour"),
        ({"window": MaintenanceWindow("0 2 0 * *", 3600)}, "day of month"),
        ({"window": MaintenanceWindow("0 2 * 13 *", 3600)}, "month"),
        ({"window": MaintenanceWindow("0 2 * * 8", 3600)}, "day of week"),
        ({"window": MaintenanceWindow("*/0 2 * * *", 3600)}, "step"),
        ({"window": MaintenanceWindow("5-1 2 * * *", 3600)}, "reversed"),
        ({"window": MaintenanceWindow("0 2 * * *", 3600, "Europe/Berlin")}, None),
        ({"window": MaintenanceWindow("0 2 * * *", 3600, "Mars/Olympus")}, "time zone"),
        ({"window": MaintenanceWindow("0 2 * * *", 3600, "../etc/passwd")}, "time zone"),
        ({"bandwidth_bytes_per_min": 10_000}, None),  # exactly one package per minute
        ({"bandwidth_bytes_per_min": 9_999}, "below the package size"),
        ({"bandwidth_bytes_per_min": 0}, "bandwidth"),
        ({"start_at": 1.0}, None),
        ({"start_at": 0.0}, "start_at"),
        ({"start_at": float("nan")}, "start_at"),
    ],
)
def test_controls_are_validated_at_creation(kw: dict[str, object], error: str | None) -> None:
    if error is None:
        _spec(Stage("all", percent=100), **kw)
    else:
        with pytest.raises(UsageError, match=error):
            _spec(Stage("all", percent=100), **kw)


def test_controls_round_trip_through_json() -> None:
    s = _spec(
        Stage("all", percent=100),
        retry=RetryPolicy(3, 30, 2, 600),
        window=MaintenanceWindow("0 2 * * 1-5", 7200, "Europe/Berlin"),
        bandwidth_bytes_per_min=50_000,
        start_at=1_800_000_000.0,
    )
    assert RolloutSpec.from_json(s.to_json()) == s


def test_bandwidth_cap_without_a_package_size_is_refused() -> None:
    with pytest.raises(UsageError, match="package size"):
        spec(Stage("all", percent=100), bandwidth_bytes_per_min=10**9)


# -- retries ---------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    max_retries=st.integers(0, 4),
    backoff=st.integers(1, 50),
    factor=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    cap=st.integers(50, 200),
    succeed_on=st.integers(1, 6),
)
def test_retries_follow_the_backoff_schedule_and_stop_at_the_maximum(
    max_retries: int, backoff: int, factor: float, cap: int, succeed_on: int
) -> None:
    """One device fails until its ``succeed_on``-th attempt; ticks every second. Each retry happens at
    the first tick at or after failure + backoff·factor^k (capped), never before; after
    ``max_retries`` the failure counts and the error gate aborts."""
    attempts: Counter[str] = Counter()

    def behaviour(d: str) -> str:
        attempts[d] += 1
        return "confirm" if attempts[d] >= succeed_on else "fail"

    pol = RetryPolicy(max_retries, float(backoff), factor, float(max(cap, backoff)))
    run = Run.start(
        Fleet.make(1, behaviour=behaviour),
        spec(Stage("all", percent=100, error=ErrorThreshold(0, None)), retry=pol),
    )
    for _ in range(2000):
        run.tick()
        if run.state.terminal or run.state.status is Status.ABORTING:
            break
    retried = [e.at for e in run.events if e.kind is EventKind.RETRIED]
    failed = [e.at for e in run.events if e.kind is EventKind.REPORTED and e.failed]
    expected_retries = min(max_retries, succeed_on - 1)
    assert len(retried) == expected_retries
    for k, (f, r) in enumerate(zip(failed, retried, strict=False)):
        assert r == math.ceil(f + pol.delay(k)), (
            k,
            f,
            r,
        )  # the first whole-second tick at/after the due time
    if succeed_on - 1 <= max_retries:
        assert run.state.status is Status.SUCCEEDED
    else:
        assert run.state.status in (Status.ABORTING, Status.ROLLED_BACK)
        assert run.state.devices["d000"].retries == max_retries


def test_retry_is_not_sent_one_tick_before_it_is_due() -> None:
    run = Run.start(
        Fleet.make(1, behaviour=lambda d: "fail"),
        spec(Stage("all", percent=100, error=ErrorThreshold(0, None)), retry=RetryPolicy(1, 10, 2, 10)),
    )
    run.tick(1.0)  # t=1: start + assign; failure recorded on the next tick
    run.tick(1.0)  # t=2: failed_at = 2
    assert run.state.devices["d000"].status is DeviceStatus.FAILED
    assert run.state.status is Status.RUNNING  # waiting for its retry: not counted as failed yet
    run.tick(9.999)  # t=11.999 < 12
    assert run.state.devices["d000"].retries == 0
    dec = run.tick(0.001)  # t=12: due
    assert [a.device_id for a in dec.retry] == ["d000"] and run.state.devices["d000"].retries == 1
    run.tick()
    run.tick()
    assert run.state.status in (Status.ABORTING, Status.ROLLED_BACK)  # retries used up: it counts now
    assert "max_failed" in run.state.reason


# -- maintenance window ----------------------------------------------------------------------------
TZS = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
cron_field = st.sampled_from(["*", "*/15", "0", "30", "0-10/5", "1,31,59"])
hour_field = st.sampled_from(["*", "2", "1-3", "0,12", "*/6", "23"])
dom_field = st.sampled_from(["*", "1", "15", "1-7", "29,30,31"])
mon_field = st.sampled_from(["*", "3", "10,11", "1-6"])
dow_field = st.sampled_from(["*", "0", "7", "1-5", "6", "0,3"])


def _brute(cron: Cron, tz: str, duration: float, now: float) -> bool:
    """Reference: some minute t in (now - duration, now] at which the cron fires (local wall time)."""
    z = zone(tz)
    t = math.floor(now / 60) * 60
    while t > now - duration:
        if cron.matches(datetime.fromtimestamp(t, z)):
            return True
        t -= 60
    return False


@settings(max_examples=300, deadline=None)
@given(
    fields=st.tuples(cron_field, hour_field, dom_field, mon_field, dow_field),
    tz=st.sampled_from(TZS),
    duration=st.sampled_from([60.0, 600.0, 3600.0, 5400.0, 86400.0]),
    now=st.one_of(
        st.floats(1.6e9, 1.8e9),
        # around the 2024 DST changes of Europe and the US
        st.sampled_from([1711846800.0, 1730595600.0, 1710054000.0, 1730624400.0]).flatmap(
            lambda t: st.floats(t - 7200, t + 7200)
        ),
    ),
)
def test_window_matches_a_minute_by_minute_reference(
    fields: tuple[str, ...], tz: str, duration: float, now: float
) -> None:
    cron = Cron.parse(" ".join(fields))
    assert in_window(cron, zone(tz), duration, now) is _brute(cron, tz, duration, now)


def test_window_edges_and_days() -> None:
    z = zone("Europe/Berlin")
    cron = Cron.parse("0 2 * * 1-5")  # 02:00 Berlin, Monday to Friday, for an hour
    mon = datetime(2025, 6, 2, 2, 0, tzinfo=z).timestamp()  # a Monday (CEST)
    assert in_window(cron, z, 3600, mon)  # opens at the firing
    assert not in_window(cron, z, 3600, mon - 1)
    assert in_window(cron, z, 3600, mon + 3599.9)
    assert not in_window(cron, z, 3600, mon + 3600)  # closes after the duration
    sat = datetime(2025, 6, 7, 2, 30, tzinfo=z).timestamp()
    assert not in_window(cron, z, 3600, sat)
    assert in_window(Cron.parse("0 2 1 * 6"), z, 3600, sat)  # both day fields restricted: either matches
    utc = zone("UTC")  # 02:00 CEST is 00:00 UTC: the same cron in UTC opens two hours later
    assert not in_window(cron, utc, 3600, mon) and not in_window(cron, utc, 3600, mon + 2 * 3600 - 1)
    assert in_window(cron, utc, 3600, mon + 2 * 3600)


def test_window_closed_withholds_assignments_and_the_stage_waits() -> None:
    z = zone("UTC")
    opens = datetime(2025, 6, 2, 2, 0, tzinfo=z).timestamp()
    s = spec(Stage("all", percent=100), window=MaintenanceWindow("0 2 * * *", 600, "UTC"))
    run = Run.start(Fleet.make(5), s)
    run.now = opens - 30
    run.ticks(29)  # t = opens - 1: started, nothing sent, the stage does not pass
    assert run.state.status is Status.RUNNING and not run.state.devices
    assert send_budget(run.state, run.now) == 0
    run.tick()  # t = opens: inside
    assert len(run.state.devices) == 5
    run.tick()
    assert run.state.status is Status.SUCCEEDED


def test_retries_wait_for_the_window_too() -> None:
    z = zone("UTC")
    opens = datetime(2025, 6, 2, 2, 0, tzinfo=z).timestamp()
    fails = Counter[str]()

    def behaviour(d: str) -> str:
        fails[d] += 1
        return "fail" if fails[d] == 1 else "confirm"

    s = spec(
        Stage("all", percent=100),
        window=MaintenanceWindow("0 2 * * *", 60, "UTC"),
        retry=RetryPolicy(2, 30, 2, 60),
    )
    run = Run.start(Fleet.make(1, behaviour=behaviour), s)
    run.now = opens - 1
    run.ticks(2)  # assigned at `opens`, failed on the next tick
    run.ticks(58)  # t = opens + 59: retry due at opens + 31, sent then (inside the window)
    assert run.state.devices["d000"].retries == 1
    assert [e.at for e in run.events if e.kind is EventKind.RETRIED] == [opens + 31]


def test_retry_due_outside_the_window_waits_for_the_next_one() -> None:
    z = zone("UTC")
    opens = datetime(2025, 6, 2, 2, 0, tzinfo=z).timestamp()
    s = spec(
        Stage("all", percent=100),
        window=MaintenanceWindow("0 2 * * *", 60, "UTC"),
        retry=RetryPolicy(1, 120, 2, 120),
    )
    run = Run.start(Fleet.make(1, behaviour=lambda d: "fail"), s)
    run.now = opens - 1
    run.ticks(2)
    run.ticks(1500, dt=60.0)  # due at opens + 121 (outside); the next window opens a day later
    retried = [e.at for e in run.events if e.kind is EventKind.RETRIED]
    assert len(retried) == 1
    assert opens + 86400 <= retried[0] < opens + 86400 + 60


# -- bandwidth cap ---------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(per_min=st.integers(1, 7), n=st.integers(1, 30), dt=st.sampled_from([1.0, 7.0, 20.0, 61.0]))
def test_bandwidth_cap_holds_in_every_minute(per_min: int, n: int, dt: float) -> None:
    s = _spec(Stage("all", percent=100), bandwidth_bytes_per_min=per_min * SIZED.size + SIZED.size - 1)
    run = Run.start(Fleet.make(n, behaviour=lambda d: "pending"), s)
    for _ in range(5000):
        run.tick(dt)
        if len(run.state.devices) == n:
            break
    sends = sorted((e.at, len(e.devices)) for e in run.events if e.kind is EventKind.ASSIGNED)
    assert sum(k for _, k in sends) == n
    for t, _ in sends:  # any minute ending at a send holds at most per_min sends
        assert sum(k for u, k in sends if t - 60 < u <= t) <= per_min
    if dt == 1.0:  # and the cap is used: one batch per minute
        assert len(sends) == math.ceil(n / per_min)


def test_bandwidth_cap_one_more_byte_is_one_more_device() -> None:
    size = SIZED.size
    for cap, per_min in ((2 * size - 1, 1), (2 * size, 2)):
        run = Run.start(
            Fleet.make(10, behaviour=lambda d: "pending"),
            _spec(Stage("all", percent=100), bandwidth_bytes_per_min=cap),
        )
        run.tick()
        assert len(run.state.devices) == per_min


# -- scheduled start -------------------------------------------------------------------------------
def test_scheduled_start_both_sides() -> None:
    run = Run.start(Fleet.make(3), spec(Stage("all", percent=100), start_at=100.0))
    run.tick(99.0)  # t=99
    assert run.state.status is Status.CREATED and not run.state.devices
    run.tick(1.0)  # t=100
    assert run.state.status is not Status.CREATED and len(run.state.devices) == 3


def test_scheduled_rollout_can_be_aborted_before_it_starts() -> None:
    from tinyfleet.server.rollout.engine import Command

    run = Run.start(Fleet.make(3), spec(Stage("all", percent=100), start_at=1e9))
    run.tick()
    run.cmd(Command.ABORT)
    assert run.state.status is Status.ABORTED


def test_now_is_compared_in_utc_seconds() -> None:
    assert datetime.fromtimestamp(0, UTC).year == 1970


# -- the per-stage tally equals counting the devices -------------------------------------------------
def _recount(state: object) -> dict[str, int]:
    from tinyfleet.server.rollout.events import RolloutState

    assert isinstance(state, RolloutState)
    out: Counter[str] = Counter()
    for r in state.devices.values():
        out[f"{r.stage}:all"] += 1
        out[f"{r.stage}:{r.status.value}"] += 1
        if r.status is DeviceStatus.FAILED and r.retries >= state.spec.retry.max_retries:
            out[f"{r.stage}:failed_final"] += 1
    return dict(out)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    fail_every=st.integers(2, 7),
    retries=st.integers(0, 3),
    abort_at=st.one_of(st.none(), st.integers(1, 30)),
)
def test_tally_always_equals_a_recount(n: int, fail_every: int, retries: int, abort_at: int | None) -> None:
    from tinyfleet.server.rollout.engine import Command

    calls: Counter[str] = Counter()

    def behaviour(d: str) -> str:
        calls[d] += 1
        return "fail" if (int(d[1:]) + calls[d]) % fail_every == 0 else "confirm"

    s = spec(
        Stage("ten", percent=10),
        Stage("half", percent=50, error=ErrorThreshold(None, 0.9)),
        Stage("all", percent=100, error=ErrorThreshold(None, 0.9)),
        retry=RetryPolicy(retries, 1.0, 2.0, 4.0),
    )
    run = Run.start(Fleet.make(n, behaviour=behaviour), s)
    for i in range(60):
        if abort_at == i and not run.state.terminal and run.state.status is not Status.ABORTING:
            run.cmd(Command.ABORT)
        run.tick()
        assert {k: v for k, v in run.state.tally.items() if v} == _recount(run.state)
    assert run.replayed() == run.state
