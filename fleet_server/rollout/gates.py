"""Gates: small pure evaluators, one per :class:`~.model.GateKind`, each returning a :class:`Verdict`
with the numbers that decided it.

Comparisons (both sides of each are tested):

- ``error_count``: FAIL when ``failed > max_failed``;
- ``error_share``: FAIL when ``failed / assigned > max_failed_share``; an empty stage never fails;
- ``success_share``: PASS when ``confirmed / assigned >= success_share``; an empty stage passes;
- ML health gates, canary cohort against control cohort, FAIL when the value is ``> bound``:
  ``drift`` = canary drift − control drift, ``confidence_drop`` = control mean confidence − canary mean
  confidence, ``error_rate`` = canary error rate − control error rate, ``latency_p95`` = canary p95 /
  control p95. They WAIT while either cohort has fewer than ``min_samples`` inferences (or no drift
  score), and are SKIPped when the control cohort has no devices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tinyfleet.server.drift.cohort import CohortStats
from tinyfleet.server.rollout.model import ErrorThreshold, GateKind, HealthGate

__all__ = [
    "HEALTH_EVALUATORS",
    "Outcome",
    "StageStats",
    "Verdict",
    "error_count",
    "error_share",
    "error_verdicts",
    "health_verdicts",
    "success_share",
]


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WAIT = "wait"  # not decided yet (too few samples, success not reached)
    SKIP = "skip"  # not applicable (no limit set, no control cohort)


@dataclass(frozen=True)
class Verdict:
    gate: GateKind
    outcome: Outcome
    value: float | None = None
    bound: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class StageStats:
    """Install results of the devices the current stage assigned."""

    assigned: int
    confirmed: int
    failed: int


def error_count(stats: StageStats, max_failed: int | None) -> Verdict:
    g = GateKind.ERROR_COUNT
    if max_failed is None:
        return Verdict(g, Outcome.SKIP, float(stats.failed), None, "no max_failed")
    fired = stats.failed > max_failed
    return Verdict(
        g,
        Outcome.FAIL if fired else Outcome.PASS,
        float(stats.failed),
        float(max_failed),
        f"failed {stats.failed} {'>' if fired else '<='} max_failed {max_failed}",
    )


def error_share(stats: StageStats, max_share: float | None) -> Verdict:
    g = GateKind.ERROR_SHARE
    if max_share is None:
        return Verdict(g, Outcome.SKIP, None, None, "no max_failed_share")
    if stats.assigned == 0:
        return Verdict(g, Outcome.PASS, 0.0, max_share, "empty stage")
    share = stats.failed / stats.assigned
    fired = share > max_share
    return Verdict(
        g,
        Outcome.FAIL if fired else Outcome.PASS,
        share,
        max_share,
        f"failed {stats.failed}/{stats.assigned} = {share:.4g} {'>' if fired else '<='} {max_share:g}",
    )


def success_share(stats: StageStats, required: float) -> Verdict:
    g = GateKind.SUCCESS_SHARE
    if stats.assigned == 0:
        return Verdict(g, Outcome.PASS, 1.0, required, "empty stage")
    share = stats.confirmed / stats.assigned
    met = share >= required
    return Verdict(
        g,
        Outcome.PASS if met else Outcome.WAIT,
        share,
        required,
        f"confirmed {stats.confirmed}/{stats.assigned} = {share:.4g} {'>=' if met else '<'} {required:g}",
    )


def error_verdicts(stats: StageStats, threshold: ErrorThreshold) -> list[Verdict]:
    return [error_count(stats, threshold.max_failed), error_share(stats, threshold.max_failed_share)]


def _compare(gate: GateKind, value: float, bound: float, what: str) -> Verdict:
    fired = value > bound
    return Verdict(
        gate,
        Outcome.FAIL if fired else Outcome.PASS,
        value,
        bound,
        f"{what} = {value:.4g} {'>' if fired else '<='} {bound:g}",
    )


def _drift(canary: CohortStats, control: CohortStats, bound: float) -> Verdict:
    if canary.drift is None or control.drift is None:
        return Verdict(
            GateKind.DRIFT, Outcome.WAIT, None, bound, "no drift score yet (no baseline or no counts)"
        )
    return _compare(
        GateKind.DRIFT,
        canary.drift - control.drift,
        bound,
        f"canary drift {canary.drift:.4g} - control drift {control.drift:.4g}",
    )


def _confidence(canary: CohortStats, control: CohortStats, bound: float) -> Verdict:
    return _compare(
        GateKind.CONFIDENCE_DROP,
        control.mean_confidence - canary.mean_confidence,
        bound,
        f"control confidence {control.mean_confidence:.4g} - canary {canary.mean_confidence:.4g}",
    )


def _error_rate(canary: CohortStats, control: CohortStats, bound: float) -> Verdict:
    return _compare(
        GateKind.ERROR_RATE,
        canary.error_rate - control.error_rate,
        bound,
        f"canary error rate {canary.error_rate:.4g} - control {control.error_rate:.4g}",
    )


def _latency(canary: CohortStats, control: CohortStats, bound: float) -> Verdict:
    if control.latency_p95_us <= 0:
        ratio = float("inf") if canary.latency_p95_us > 0 else 1.0
    else:
        ratio = canary.latency_p95_us / control.latency_p95_us
    return _compare(
        GateKind.LATENCY_P95,
        ratio,
        bound,
        f"canary p95 {canary.latency_p95_us:.4g} us / control p95 {control.latency_p95_us:.4g} us",
    )


HEALTH_EVALUATORS: dict[GateKind, Callable[[CohortStats, CohortStats, float], Verdict]] = {
    GateKind.DRIFT: _drift,
    GateKind.CONFIDENCE_DROP: _confidence,
    GateKind.ERROR_RATE: _error_rate,
    GateKind.LATENCY_P95: _latency,
}


def health_verdicts(health: HealthGate, canary: CohortStats, control: CohortStats) -> list[Verdict]:
    """One verdict per configured bound, in the spec's order."""
    out = []
    for b in health.bounds:
        if control.devices == 0:
            out.append(Verdict(b.gate, Outcome.SKIP, None, b.bound, "no control cohort"))
        elif canary.n < health.min_samples or control.n < health.min_samples:
            out.append(
                Verdict(
                    b.gate,
                    Outcome.WAIT,
                    None,
                    b.bound,
                    f"samples canary {canary.n}, control {control.n} < min_samples {health.min_samples}",
                )
            )
        else:
            out.append(HEALTH_EVALUATORS[b.gate](canary, control, b.bound))
    return out
