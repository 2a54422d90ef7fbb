"""Maintenance windows: a 5-field cron expression for when a window opens, a duration, a time zone.

Pure (no clock): ``Cron.parse(text)`` validates; ``latest_start(cron, tz, now, lookback_s)`` is the
latest time ≤ ``now`` at which the cron expression fires (local wall time of ``tz``, minute
resolution), and ``in_window`` asks whether ``now`` lies in ``[start, start + duration)`` of that
start. The latest start decides: every window lasts as long, so a later start also ends later.

Cron fields (minute hour day-of-month month day-of-week) take ``*``, numbers, ranges ``a-b``,
steps ``*/n`` and ``a-b/n``, and comma lists; day-of-week 0–7 with 0 and 7 both Sunday. As in
Vixie cron, when both day fields are restricted (neither starts with ``*``) a day matches when
*either* does. Wall times a DST change skips do not fire; a wall time that occurs twice fires twice.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tinyfleet.errors import UsageError

__all__ = ["Cron", "compiled", "in_window", "latest_start", "zone"]

# (name, low, high) of the five fields
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)


def _field(text: str, name: str, lo: int, hi: int) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_s = part.partition("/")
        step = 1
        if step_s:
            if not step_s.isdigit() or int(step_s) < 1:
                raise UsageError(f"cron {name}: step {step_s!r} must be a whole number >= 1")
            step = int(step_s)
        if rng == "*":
            a, b = lo, hi
        else:
            a_s, dash, b_s = rng.partition("-")
            if not a_s.isdigit() or (dash and not b_s.isdigit()):
                raise UsageError(f"cron {name}: {part!r} is not a number, range or step")
            a = int(a_s)
            b = int(b_s) if dash else (hi if step_s else a)
            if not (lo <= a <= hi and lo <= b <= hi) or a > b:
                raise UsageError(f"cron {name}: {part!r} is outside {lo}-{hi} or reversed")
        out.update(range(a, b + 1, step))
    return frozenset(out)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Monday … 6 = Sunday (Python's weekday())
    day_star: bool  # day-of-month field starts with '*'
    weekday_star: bool

    @staticmethod
    def parse(text: str) -> Cron:
        if not isinstance(text, str) or len(text) > 200:
            raise UsageError("cron expression must be a string of at most 200 characters")
        parts = text.split()
        if len(parts) != 5:
            raise UsageError(
                f"cron expression {text!r} needs 5 fields: minute hour day-of-month month day-of-week"
            )
        sets = [_field(p, n, lo, hi) for p, (n, lo, hi) in zip(parts, _FIELDS, strict=True)]
        cron_dow = sets[4]
        weekdays = frozenset((d - 1) % 7 for d in cron_dow)  # cron 0/7 = Sunday, 1 = Monday
        return Cron(
            sets[0], sets[1], sets[2], sets[3], weekdays, parts[2].startswith("*"), parts[4].startswith("*")
        )

    def day_matches(self, year: int, month: int, day: int) -> bool:
        if month not in self.months:
            return False
        dom = day in self.days
        dow = calendar.weekday(year, month, day) in self.weekdays
        if self.day_star or self.weekday_star:
            return dom and dow
        return dom or dow

    def matches(self, local: datetime) -> bool:
        """Whether the cron fires at this local wall time (seconds ignored)."""
        return (
            local.minute in self.minutes
            and local.hour in self.hours
            and self.day_matches(local.year, local.month, local.day)
        )


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (UsageError when unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise UsageError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin or UTC)"
        ) from None


def _firing(tz: ZoneInfo, y: int, mo: int, d: int, h: int, m: int, fold: int) -> float | None:
    """UNIX time of the local wall time, or None when it does not exist (a DST gap) or, for
    ``fold=1``, does not occur twice."""
    utc = datetime(y, mo, d, h, m, tzinfo=tz, fold=fold).astimezone(UTC)
    back = utc.astimezone(tz)
    if (back.hour, back.minute) != (h, m) or back.fold != fold:
        return None
    return utc.timestamp()


def latest_start(cron: Cron, tz: ZoneInfo, now: float, lookback_s: float) -> float | None:
    """The latest firing time ``t`` with ``now - lookback_s < t <= now``, or None."""
    local_now = datetime.fromtimestamp(now, tz)
    hours = sorted(cron.hours, reverse=True)
    minutes = sorted(cron.minutes)
    for back in range(int(lookback_s // 86400) + 2):
        day = (local_now - timedelta(days=back)).date()
        if not cron.day_matches(day.year, day.month, day.day):
            continue
        for h in hours:
            if back == 0 and h > local_now.hour + 2:  # later today (a DST shift is at most 2 h)
                continue
            # the latest firing of this hour (a wall hour that occurs twice has two passes)
            times = [
                t
                for m in minutes
                for fold in (0, 1)
                if (t := _firing(tz, day.year, day.month, day.day, h, m, fold)) is not None and t <= now
            ]
            if times:
                t = max(times)
                return t if t > now - lookback_s else None
    return None


def in_window(cron: Cron, tz: ZoneInfo, duration_s: float, now: float) -> bool:
    """Whether ``now`` lies in a window ``[start, start + duration_s)`` of some cron firing."""
    start = latest_start(cron, tz, now, duration_s)
    return start is not None and now < start + duration_s


@lru_cache(maxsize=256)
def compiled(cron: str, tz: str) -> tuple[Cron, ZoneInfo]:
    """Parsed cron expression and time zone (cached: the engine asks every tick)."""
    return Cron.parse(cron), zone(tz)
