"""Gates: small pure evaluators, one per :class:`~.model.GateKind`, each returning a :class:`Verdict`
with the numbers that decided it.

Comparisons (both sides of each are tested):

- ``error_count``: FAIL when ``failed > max_failed``;
- ``error_share``: FAIL when ``failed / assigned > max_failed_share``; an empty stage never fails;
- ``success_share``: PASS when ``confirmed / assigned >= success_share``; an empty stage passes;
- ML health gates, canary cohort against control cohort, decided on evidence (docs/drift.md):
  ``error_rate`` = canary error rate − control error rate, ``confidence_drop`` = control mean
  confidence − canary mean confidence: an always-valid (1 − ``GATE_ALPHA``) interval [lo, hi] on the
  difference (normal-mixture SPRT, ``tinyfleet.stats.sequential``, prior scale = the bound);
  FAIL when ``lo > 0`` (the canary is worse, at every look) and the estimate is ``> bound``; PASS
  when ``hi <= bound``; otherwise WAIT (inconclusive: the stage holds until the evidence suffices).
  ``drift`` = canary excess PSI − control excess PSI (PSI less its null mean at the sizes): FAIL when
  the canary's G-test against its baseline reaches the mixture e-value ``1/GATE_ALPHA`` and the value
  is ``> bound``; PASS when not failing and the test could see a PSI of ``bound`` (its critical PSI at
  these sizes is ``<= bound``); otherwise WAIT. ``latency_p95`` = canary p95 / control p95 (point
  estimate until devices send latency histograms). They WAIT while either cohort has fewer than
  ``min_samples`` inferences (or no drift score), and are SKIPped when the control cohort has no
  devices.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tinyfleet.drift import LAT_EDGES_US
from tinyfleet.server.drift.cohort import CohortStats
from tinyfleet.server.rollout.model import ErrorThreshold, GateKind, HealthGate, Stage
from tinyfleet.stats.distributions import norm_isf
from tinyfleet.stats.homogeneity import psi_critical, psi_null_mean
from tinyfleet.stats.quantiles import QuantileEstimate, histogram_quantile
from tinyfleet.stats.sequential import chi2_mixture_log_e, mixture_halfwidth

__all__ = [
    "EVALUATORS",
    "GATE_ALPHA",
    "HEALTH_EVALUATORS",
    "STAGE_EVALUATORS",
    "Outcome",
    "StageStats",
    "Verdict",
    "error_count",
    "error_share",
    "error_verdicts",
    "evaluate",
    "health_verdicts",
    "success_share",
]


# Two-sided level of the always-valid intervals: an equal canary is failed with probability at most
# GATE_ALPHA / 2 = 1 % over all looks of a stage (Ville's inequality on the mixture martingale).
GATE_ALPHA = 0.02


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
    lower: float | None = None  # the interval that decided (ML health gates)
    upper: float | None = None
    samples: tuple[int, int] | None = None  # (canary, control) inferences


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


# the stage gates, keyed like the health gates (``EVALUATORS`` below holds both: every GateKind)
STAGE_EVALUATORS: dict[GateKind, Callable[[StageStats, Stage], Verdict]] = {
    GateKind.ERROR_COUNT: lambda stats, stage: error_count(stats, stage.error.max_failed),
    GateKind.ERROR_SHARE: lambda stats, stage: error_share(stats, stage.error.max_failed_share),
    GateKind.SUCCESS_SHARE: lambda stats, stage: success_share(stats, stage.success_share),
}


def _compare(gate: GateKind, value: float, bound: float, what: str) -> Verdict:
    fired = value > bound
    return Verdict(
        gate,
        Outcome.FAIL if fired else Outcome.PASS,
        value,
        bound,
        f"{what} = {value:.4g} {'>' if fired else '<='} {bound:g}",
    )


def _interval_verdict(
    gate: GateKind,
    est: float,
    var: float,
    bound: float,
    what: str,
    samples: tuple[int, int],
    fixed_var: float = 0.0,
) -> Verdict:
    """FAIL / PASS / WAIT from the always-valid interval ``est ± h`` (see the module doc).

    ``fixed_var``: variance of an error that does not change from look to look (the calibration of
    a label-free estimate): half of GATE_ALPHA covers it with a fixed normal interval, the other
    half the sampling error with the always-valid one (union bound)."""
    if fixed_var > 0:
        h = norm_isf(GATE_ALPHA / 4) * math.sqrt(fixed_var) + mixture_halfwidth(
            max(var, 1e-12), GATE_ALPHA / 2, max(bound, 1e-3)
        )
    else:
        h = mixture_halfwidth(max(var, 1e-12), GATE_ALPHA, max(bound, 1e-3))
    lo, hi = est - h, est + h
    if lo > 0 and est > bound:
        outcome, why = Outcome.FAIL, f"worse at every look (lower {lo:.4g} > 0) and {est:.4g} > {bound:g}"
    elif hi <= bound:
        outcome, why = Outcome.PASS, f"upper {hi:.4g} <= {bound:g}"
    else:
        outcome, why = Outcome.WAIT, f"inconclusive: interval [{lo:.4g}, {hi:.4g}] vs bound {bound:g}"
    detail = f"{what} = {est:.4g}, {1 - GATE_ALPHA:.0%} always-valid [{lo:.4g}, {hi:.4g}]: {why}"
    return Verdict(gate, outcome, est, bound, detail, lo, hi, samples)


def _excess(c: CohortStats) -> float | None:
    t = c.drift_test
    if t is None:
        return None
    return t.psi - psi_null_mean(t.bins, t.n, t.m)


def _drift(canary: CohortStats, control: CohortStats, bound: float) -> Verdict:
    g = GateKind.DRIFT
    samples = (canary.n, control.n)
    ex_canary, ex_control = _excess(canary), _excess(control)
    t = canary.drift_test
    if t is None or ex_canary is None:
        return Verdict(
            g, Outcome.WAIT, None, bound, "no drift test yet (no baseline or no counts)", samples=samples
        )
    value = ex_canary - (ex_control or 0.0)
    info = t.n * t.m / (t.n + t.m)
    log_e = chi2_mixture_log_e(t.statistic, t.df, info, max(bound, 1e-3) / t.df)
    crit = psi_critical(t.bins, t.n, t.m, GATE_ALPHA)
    what = (
        f"canary excess PSI {ex_canary:.4g} - control {ex_control or 0.0:.4g} = {value:.4g}; "
        f"canary G = {t.statistic:.1f} on {t.df} df, e-value {math.exp(min(log_e, 700.0)):.3g}"
    )
    if log_e >= math.log(1.0 / GATE_ALPHA) and value > bound:
        return Verdict(
            g,
            Outcome.FAIL,
            value,
            bound,
            f"{what} >= {1 / GATE_ALPHA:g} and > {bound:g}",
            value,
            None,
            samples,
        )
    if crit <= bound and value <= bound:
        return Verdict(
            g, Outcome.PASS, value, bound, f"{what}; resolution {crit:.4g} <= {bound:g}", None, value, samples
        )
    return Verdict(
        g,
        Outcome.WAIT,
        value,
        bound,
        f"inconclusive: {what}; resolution {crit:.4g} vs {bound:g}",
        samples=samples,
    )


def _confidence(canary: CohortStats, control: CohortStats, bound: float) -> Verdict:
    est = control.mean_confidence - canary.mean_confidence
    var = canary.confidence_variance / max(canary.n, 1) + control.confidence_variance / max(control.n, 1)
    return _interval_verdict(
        GateKind.CONFIDENCE_DROP,
        est,
        var,
        bound,
        f"control confidence {control.mean_confidence:.4g} - canary {canary.mean_confidence:.4g}",
        (canary.n, control.n),
    )


def _error_rate(canary: CohortStats, control: CohortStats, bound: float) -> Verdict:
    # variance with one pseudo-failure and one pseudo-success per cohort (never 0 at 0 errors)
    p1 = (canary.err + 1) / (canary.n + 2)
    p2 = (control.err + 1) / (control.n + 2)
    var = p1 * (1 - p1) / max(canary.n, 1) + p2 * (1 - p2) / max(control.n, 1)
    return _interval_verdict(
        GateKind.ERROR_RATE,
        canary.error_rate - control.error_rate,
        var,
        bound,
        f"canary error rate {canary.error_rate:.4g} - control {control.error_rate:.4g}",
        (canary.n, control.n),
    )


def _p95(c: CohortStats) -> QuantileEstimate | None:
    """A cohort's p95 from its merged latency histogram, with an always-valid interval at
    GATE_ALPHA / 2 (the CDF at the p95 is a proportion: normal-mixture half-width on the rank)."""
    n = sum(c.lat)
    if n <= 0:
        return None
    h = mixture_halfwidth(0.95 * 0.05 / n, GATE_ALPHA / 2, 0.05)
    return histogram_quantile(c.lat, LAT_EDGES_US, 0.95, rank_halfwidth=h)


def _latency(canary: CohortStats, control: CohortStats, bound: float) -> Verdict:
    g = GateKind.LATENCY_P95
    samples = (canary.n, control.n)
    pc, pk = _p95(canary), _p95(control)
    if pc is not None and pk is not None and pk.value > 0 and pk.lower > 0:
        ratio = pc.value / pk.value
        lo, hi = pc.lower / pk.upper, pc.upper / pk.lower
        what = (
            f"canary p95 {pc.value:.4g} us [{pc.lower:.4g}, {pc.upper:.4g}] / control p95 {pk.value:.4g} us "
            f"[{pk.lower:.4g}, {pk.upper:.4g}] = {ratio:.4g}, always-valid [{lo:.4g}, {hi:.4g}]"
        )
        if lo > 1.0 and ratio > bound:
            return Verdict(
                g,
                Outcome.FAIL,
                ratio,
                bound,
                f"{what}: slower at every look and > {bound:g}",
                lo,
                hi,
                samples,
            )
        if hi <= bound:
            return Verdict(g, Outcome.PASS, ratio, bound, f"{what}: upper <= {bound:g}", lo, hi, samples)
        return Verdict(
            g, Outcome.WAIT, ratio, bound, f"inconclusive: {what} vs bound {bound:g}", lo, hi, samples
        )
    # devices without latency histograms (older agents, MCUs): the reported p95s, a point comparison
    if control.latency_p95_us <= 0:
        ratio = float("inf") if canary.latency_p95_us > 0 else 1.0
    else:
        ratio = canary.latency_p95_us / control.latency_p95_us
    return _compare(
        g,
        ratio,
        bound,
        f"canary p95 {canary.latency_p95_us:.4g} us / control p95 {control.latency_p95_us:.4g} us "
        "(reported p95s, no latency histograms)",
    )


def _est_accuracy(canary: CohortStats, control: CohortStats, bound: float) -> Verdict:
    g = GateKind.EST_ACCURACY_DROP
    samples = (canary.n, control.n)
    if (
        canary.est_accuracy is None
        or control.est_accuracy is None
        or canary.est_accuracy_se is None
        or control.est_accuracy_se is None
    ):
        return Verdict(
            g,
            Outcome.WAIT,
            None,
            bound,
            "no label-free accuracy (no calibration in a package)",
            samples=samples,
        )
    return _interval_verdict(
        g,
        control.est_accuracy - canary.est_accuracy,
        canary.est_accuracy_se**2 + control.est_accuracy_se**2,
        bound,
        f"control est. accuracy {control.est_accuracy:.4g} - canary {canary.est_accuracy:.4g}",
        samples,
        (canary.est_accuracy_cal_se or 0.0) ** 2 + (control.est_accuracy_cal_se or 0.0) ** 2,
    )


HEALTH_EVALUATORS: dict[GateKind, Callable[[CohortStats, CohortStats, float], Verdict]] = {
    GateKind.DRIFT: _drift,
    GateKind.CONFIDENCE_DROP: _confidence,
    GateKind.ERROR_RATE: _error_rate,
    GateKind.LATENCY_P95: _latency,
    GateKind.EST_ACCURACY_DROP: _est_accuracy,
}


def evaluate(
    gate: GateKind,
    stats: StageStats,
    stage: Stage,
    health: HealthGate,
    canary: CohortStats,
    control: CohortStats,
) -> Verdict:
    """Any gate by its kind, as the engine decides it (one registry: ``EVALUATORS``)."""
    if gate in STAGE_EVALUATORS:
        return STAGE_EVALUATORS[gate](stats, stage)
    bounds = [b for b in health.bounds if b.gate is gate]
    if not bounds:
        return Verdict(gate, Outcome.SKIP, None, None, "not configured")
    return health_verdicts(HealthGate(bounds=(bounds[0],), min_samples=health.min_samples), canary, control)[
        0
    ]


EVALUATORS: frozenset[GateKind] = frozenset(STAGE_EVALUATORS) | frozenset(HEALTH_EVALUATORS)


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
