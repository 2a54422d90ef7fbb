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
from tinyfleet.drift import N_BINS
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.window import Window, merge_windows
from tinyfleet.stats.cbpe import AccuracyEstimate, estimate_accuracy
from tinyfleet.stats.homogeneity import HomogeneityTest, homogeneity_test

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
    err: int = 0  # failed inferences
    conf: tuple[int, ...] = ()  # merged confidence histogram
    drift_test: HomogeneityTest | None = None  # the signal vs baseline, for the version with most data
    est_accuracy: float | None = None  # label-free (CBPE) accuracy over the calibrated versions
    est_accuracy_se: float | None = None  # its sampling error (shrinks as inferences arrive)
    est_accuracy_cal_se: float | None = None  # its calibration error (fixed by the validation sets)
    lat: tuple[int, ...] = ()  # merged latency histogram (tinyfleet.drift.LAT_EDGES_US)

    @property
    def confidence_variance(self) -> float:
        """Variance of one inference's top confidence, from the histogram (bin midpoints)."""
        total = sum(self.conf)
        if not total:
            return 0.0
        mids = [(b + 0.5) / N_BINS for b in range(len(self.conf))]
        mean = sum(m * c for m, c in zip(mids, self.conf, strict=True)) / total
        return sum(c * (m - mean) ** 2 for m, c in zip(mids, self.conf, strict=True)) / total


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
    test: HomogeneityTest | None = None
    test_n = 0
    acc: list[tuple[int, AccuracyEstimate]] = []
    for key, ws in by_key.items():
        base = baselines.get(key)
        if base is None:
            continue
        merged = merge_windows(ws)
        if base.calibration is not None and len(merged.conf) == N_BINS:
            est = estimate_accuracy(merged.conf, base.calibration)
            if est is not None:
                acc.append((est.n, est))
        s = drift_scores(merged, base, metric).get(signal)
        if s is not None and merged.n > 0:
            weighted += s * merged.n
            weight += merged.n
            if merged.n > test_n:
                t = _signal_test(merged, base, Signal(signal))
                if t is not None:
                    test, test_n = t, merged.n
    return CohortStats(
        devices=len(pairs) if devices is None else devices,
        reporting=sum(len(ws) for ws in by_key.values()),
        n=total.n,
        error_rate=total.error_rate,
        mean_confidence=total.mean_confidence,
        latency_p95_us=total.lat_p95_us,
        drift=weighted / weight if weight else None,
        err=total.err,
        conf=total.conf,
        drift_test=test,
        est_accuracy=_pooled(acc)[0],
        est_accuracy_se=_pooled(acc)[1],
        est_accuracy_cal_se=_pooled(acc)[2],
        lat=total.lat,
    )


def _pooled(parts: list[tuple[int, AccuracyEstimate]]) -> tuple[float | None, float | None, float | None]:
    """Inference-weighted accuracy of the versions of a cohort, its sampling and calibration errors."""
    total = sum(n for n, _ in parts)
    if not total:
        return None, None, None
    mean = sum(n * e.accuracy for n, e in parts) / total
    var_s = sum((n / total) ** 2 * e.se_sampling**2 for n, e in parts)
    var_c = sum((n / total) ** 2 * e.se_calibration**2 for n, e in parts)
    return mean, var_s**0.5, var_c**0.5


def _signal_test(window: Window, baseline: Baseline, signal: Signal) -> HomogeneityTest | None:
    """G-test of a window's signal against the baseline (input: the group with the smallest p;
    input counts scaled to inferences, as in ``drift.detect``)."""
    pairs: list[tuple[list[float], list[float]]] = []
    if signal is Signal.OUTPUT and window.cls:
        pairs.append(([float(c) for c in baseline.cls], [float(c) for c in window.cls]))
    elif signal is Signal.CONFIDENCE and window.conf:
        pairs.append(([float(c) for c in baseline.conf], [float(c) for c in window.conf]))
    elif signal is Signal.INPUT and len(window.input_hist) == len(baseline.input_hist) and window.n:
        for r_hist, l_hist in zip(baseline.input_hist, window.input_hist, strict=True):
            if sum(r_hist) and sum(l_hist):
                pairs.append(
                    (
                        [c * baseline.n / sum(r_hist) for c in r_hist],
                        [c * window.n / sum(l_hist) for c in l_hist],
                    )
                )
    best: HomogeneityTest | None = None
    for ref, live in pairs:
        size = max(len(ref), len(live))
        a, b = ref + [0.0] * (size - len(ref)), live + [0.0] * (size - len(live))
        if sum(a) <= 0 or sum(b) <= 0:
            continue
        t = homogeneity_test(a, b)
        if t.df >= 1 and (best is None or t.p_value < best.p_value):
            best = t
    return best
