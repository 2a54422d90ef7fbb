"""Merge telemetry reports into windows: per device over a time range, then per cohort.

A device reports, every period, the counts of its inferences in the fixed drift bins
(``tinyfleet.wire.Telemetry``). Counts add up exactly, the latency histogram (``lat``: 64 fixed
log-spaced bins) included, so a quantile of the merged histogram is a real quantile. The reported
percentiles do not add up: a window's ``lat_p95_us`` is the inference-weighted mean of the reported
p95 values (shown for devices without a latency histogram); the error rate and mean confidence are
exact ratios of the merged counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tinyfleet.drift import LAT_BINS, N_BINS

__all__ = ["TelemetryLike", "Window", "merge", "merge_windows"]


class TelemetryLike(Protocol):
    """What a telemetry report carries (``tinyfleet.wire.Telemetry`` fits)."""

    @property
    def ts(self) -> float: ...
    @property
    def model(self) -> str: ...
    @property
    def n(self) -> int: ...
    @property
    def err(self) -> int: ...
    @property
    def lat_p95_us(self) -> float: ...
    @property
    def input_hist(self) -> Sequence[Sequence[int]]: ...
    @property
    def cls(self) -> Sequence[int]: ...
    @property
    def conf(self) -> Sequence[int]: ...


@dataclass(frozen=True)
class Window:
    """Merged telemetry: sums of counts, and the time range of the reports that went in."""

    model: str  # model version the counts belong to ("" when a cohort mixes versions)
    n: int = 0
    err: int = 0
    lat_p95_us: float = 0.0
    input_hist: tuple[tuple[int, ...], ...] = ()
    cls: tuple[int, ...] = ()
    conf: tuple[int, ...] = ()
    reports: int = 0
    first_ts: float = 0.0
    last_ts: float = 0.0
    lat: tuple[int, ...] = ()  # merged latency histogram (empty when no report had one)

    @property
    def error_rate(self) -> float:
        return self.err / self.n if self.n else 0.0

    @property
    def mean_confidence(self) -> float:
        """Mean top-output probability from the confidence histogram (bin midpoints (b + 0.5) / 16)."""
        total = sum(self.conf)
        if not total:
            return 0.0
        return sum((b + 0.5) / N_BINS * c for b, c in enumerate(self.conf)) / total


def _add(a: tuple[int, ...], b: Sequence[int]) -> tuple[int, ...]:
    if len(a) < len(b):
        a = a + (0,) * (len(b) - len(a))
    return tuple(x + (b[i] if i < len(b) else 0) for i, x in enumerate(a))


def _add2(a: tuple[tuple[int, ...], ...], b: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    if len(a) < len(b):
        a = a + ((0,) * N_BINS,) * (len(b) - len(a))
    return tuple(_add(row, b[i]) if i < len(b) else row for i, row in enumerate(a))


class _Acc:
    def __init__(self, model: str) -> None:
        self.model = model
        self.n = self.err = self.reports = 0
        self.lat_weighted = 0.0
        self.input_hist: tuple[tuple[int, ...], ...] = ()
        self.cls: tuple[int, ...] = ()
        self.conf: tuple[int, ...] = ()
        self.lat: tuple[int, ...] = ()
        self.first = float("inf")
        self.last = float("-inf")

    def add(
        self,
        n: int,
        err: int,
        lat: float,
        inp: Sequence[Sequence[int]],
        cls: Sequence[int],
        conf: Sequence[int],
        first: float,
        last: float,
        reports: int,
        lat_hist: Sequence[int] = (),
    ) -> None:
        self.n += n
        self.err += err
        self.lat_weighted += lat * n
        self.input_hist = _add2(self.input_hist, inp)
        self.cls = _add(self.cls, cls)
        self.conf = _add(self.conf, conf)
        if lat_hist:
            self.lat = _add(self.lat, lat_hist[:LAT_BINS])
        self.first = min(self.first, first)
        self.last = max(self.last, last)
        self.reports += reports

    def window(self) -> Window:
        if not self.reports:
            return Window(model=self.model)
        return Window(
            self.model,
            self.n,
            self.err,
            self.lat_weighted / self.n if self.n else 0.0,
            self.input_hist,
            self.cls,
            self.conf,
            self.reports,
            self.first,
            self.last,
            # a device may leave out trailing zero bins (docs/reference): the window holds all LAT_BINS
            self.lat + (0,) * (LAT_BINS - len(self.lat)) if self.lat else (),
        )


def _lat_of(r: TelemetryLike) -> Sequence[int]:
    """A report's latency histogram: ``lat_hist`` (a stored row), ``lat`` (a wire message), or none."""
    h = getattr(r, "lat_hist", None)
    if h is None:
        h = getattr(r, "lat", None)
    return tuple(int(c) for c in h) if h else ()


def merge(reports: Iterable[TelemetryLike], start: float, end: float, model: str) -> Window:
    """One device's window: reports of version ``model`` with ``start <= ts < end``."""
    acc = _Acc(model)
    for r in reports:
        if r.model == model and start <= r.ts < end:
            acc.add(r.n, r.err, r.lat_p95_us, r.input_hist, r.cls, r.conf, r.ts, r.ts, 1, _lat_of(r))
    return acc.window()


def merge_windows(windows: Iterable[Window]) -> Window:
    """A cohort's window: the sum of device windows (``model`` kept when they agree, else "")."""
    ws = [w for w in windows if w.reports]
    models = {w.model for w in ws}
    acc = _Acc(models.pop() if len(models) == 1 else "")
    for w in ws:
        acc.add(
            w.n, w.err, w.lat_p95_us, w.input_hist, w.cls, w.conf, w.first_ts, w.last_ts, w.reports, w.lat
        )
    return acc.window()
