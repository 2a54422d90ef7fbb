"""Drift scores of a device or a cohort against package baselines, and the cohort's health figures.

A cohort may mix model versions (control devices run whatever they ran before). Its windows are
merged per version, each version's merged histogram is scored against that version's baseline, and
the cohort's drift is the inference-weighted mean of those scores. Versions without a baseline (or
windows without counts) add nothing to the drift; when none is left the drift is ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from tinyfleet import drift as math_
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.window import Window, merge_windows

__all__ = ["CohortStats", "DriftScores", "Signal", "cohort_stats", "drift_scores"]


class Signal(StrEnum):
    OUTPUT = "output"
    CONFIDENCE = "confidence"
    INPUT = "input"


@dataclass(frozen=True)
class DriftScores:
    """One score per signal (None when the live window has no counts for it)."""

    input: float | None
    output: float | None
    confidence: float | None

    def get(self, signal: Signal | str) -> float | None:
        return {"input": self.input, "output": self.output, "confidence": self.confidence}[
            Signal(signal).value
        ]


@dataclass(frozen=True)
class CohortStats:
    """The health figures of a cohort over the telemetry window (the ML gates compare two of these)."""

    devices: int  # devices in the cohort
    reporting: int  # devices with at least one telemetry report in the window
    n: int  # inferences
    error_rate: float
    mean_confidence: float
    latency_p95_us: float
    drift: float | None  # the configured signal's score vs baseline (weighted over versions)


def _score(metric: str, ref: Sequence[int], live: Sequence[int]) -> float | None:
    if sum(live) <= 0 or sum(ref) <= 0:
        return None
    size = max(len(ref), len(live))
    r = list(ref) + [0] * (size - len(ref))
    v = list(live) + [0] * (size - len(live))
    return math_.score(metric, r, v)  # type: ignore[arg-type]


def drift_scores(window: Window, baseline: Baseline, metric: str = "psi") -> DriftScores:
    """Scores of one window against a baseline; input: the largest score over feature groups."""
    inp: float | None = None
    if window.input_hist and len(window.input_hist) == len(baseline.input_hist):
        scores = [_score(metric, r, v) for r, v in zip(baseline.input_hist, window.input_hist, strict=True)]
        known = [s for s in scores if s is not None]
        inp = max(known) if known else None
    return DriftScores(
        input=inp,
        output=_score(metric, baseline.cls, window.cls) if window.cls else None,
        confidence=_score(metric, baseline.conf, window.conf) if window.conf else None,
    )


def cohort_stats(
    windows: Iterable[tuple[str, Window]],
    baselines: Mapping[str, Baseline],
    metric: str = "psi",
    signal: Signal | str = Signal.OUTPUT,
    devices: int | None = None,
) -> CohortStats:
    """Health of a cohort from ``(baseline key name@version, window)`` pairs, one per device."""
    pairs = list(windows)
    by_key: dict[str, list[Window]] = {}
    for key, w in pairs:
        if w.reports:
            by_key.setdefault(key, []).append(w)
    total = merge_windows(w for ws in by_key.values() for w in ws)
    weighted, weight = 0.0, 0
    for key, ws in by_key.items():
        base = baselines.get(key)
        if base is None:
            continue
        merged = merge_windows(ws)
        s = drift_scores(merged, base, metric).get(signal)
        if s is not None and merged.n > 0:
            weighted += s * merged.n
            weight += merged.n
    return CohortStats(
        devices=len(pairs) if devices is None else devices,
        reporting=sum(len(ws) for ws in by_key.values()),
        n=total.n,
        error_rate=total.error_rate,
        mean_confidence=total.mean_confidence,
        latency_p95_us=total.lat_p95_us,
        drift=weighted / weight if weight else None,
    )
