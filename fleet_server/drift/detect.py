"""Drift alerts decided on evidence: a two-sample test per scan window, alpha spent per look, FDR
across devices, and an effect above the operator's bound.

Each look (every ``interval_s``), for each subject (a device, or a model version's whole fleet):

1. **Scan windows of recent data.** The subject's reports since its last decision (raise or clear)
   are cut into windows ending now of ``interval_s · 2^k`` seconds (k = 0, 1, ... up to
   ``window_s``). A shift that began t seconds ago lies, within a factor 2, in one window alone, so
   hours of healthy history do not dilute it.
2. **A test per window and signal.** Each window's histogram (each input feature group, output
   classes, confidence) is compared with the package baseline by the two-sample G-test
   (``tinyfleet.stats.homogeneity``: both sample sizes count, sparse bins merged). Input histograms
   count every element of every inference; they are scaled to the number of inferences so that
   correlated elements of one input do not pass for independent evidence.
3. **Bonferroni inside the subject**: ``p = min(1, K · min p_k)`` over its K tests.
4. **Spending per look and FDR across subjects**: Benjamini–Hochberg over the subjects' p at level
   ``α_look = alpha_day · interval_s / 86400``.
5. **Effect bound**: a significant subject is alerted only when the deciding window's PSI, less its
   null mean ``(B − 1)(1/n + 1/m)``, is at least ``min_effect``.

Guarantee (docs/drift.md has the derivation): a subject whose data come from the baseline's
distribution is alerted at a look with probability at most ``α_look`` whatever the other subjects do
(BH never rejects a p above its level), so at most ``alpha_day`` per subject per day over the
``86400 / interval_s`` looks; among the alerts of one look the expected share of false ones is at most
``α_look``. An active alert clears when the most recent window holding ``clear_samples`` inferences
since it was raised shows an excess PSI below ``clear_effect``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tinyfleet.errors import UsageError
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.window import TelemetryLike
from tinyfleet.stats.fdr import benjamini_hochberg
from tinyfleet.stats.homogeneity import HomogeneityTest, homogeneity_test, psi_null_mean

__all__ = [
    "DEFAULT_DETECTOR",
    "Decision",
    "DetectorConfig",
    "Evidence",
    "Subject",
    "decide",
    "evidence",
    "scan_windows",
]


@dataclass(frozen=True)
class DetectorConfig:
    alpha_day: float = 0.01  # false alerts per no-drift subject per day (upper bound)
    interval_s: float = 30.0  # time between looks (the server's drift_interval)
    window_s: float = 3600.0  # longest scan window
    min_effect: float = 0.1  # excess PSI a significant drift must show to alert
    min_samples: int = 30  # inferences a window needs to be tested
    clear_effect: float = 0.05  # excess PSI below which an active alert clears
    clear_samples: int = 300  # inferences since the raise before it may clear

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha_day < 1.0:
            raise UsageError("drift alpha_day must be in (0, 1)")
        if not (math.isfinite(self.interval_s) and 0 < self.interval_s <= self.window_s <= 30 * 86400):
            raise UsageError(
                "drift interval_s and window_s must satisfy 0 < interval_s <= window_s <= 30 days"
            )
        if not (self.min_effect >= 0 and self.clear_effect >= 0 and self.min_samples >= 1):
            raise UsageError("drift min_effect, clear_effect must be >= 0 and min_samples >= 1")

    @property
    def alpha_look(self) -> float:
        return min(0.5, self.alpha_day * self.interval_s / 86400.0)


DEFAULT_DETECTOR = DetectorConfig()
COARSE_GROUPS = 4  # every histogram is also tested on 4 groups of bins of equal baseline mass


@dataclass(frozen=True)
class Evidence:
    """The test that decided (the subject's smallest p) and how many tests it was chosen from."""

    signal: str  # "input[g]", "output" or "confidence"
    window_s: float
    n: int  # inferences in the window
    m: int  # baseline samples
    statistic: float  # G
    df: int
    p_value: float  # of this test alone
    p_adjusted: float  # Bonferroni over the subject's tests
    tests: int
    psi: float  # on the merged bins
    psi_excess: float  # psi minus its null mean at (n, m)

    def to_json(self) -> dict[str, float | int | str]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def scan_windows(cfg: DetectorConfig) -> list[float]:
    """Durations of the scan windows: interval_s · 2^k up to window_s (window_s itself last)."""
    out: list[float] = []
    d = cfg.interval_s
    while d < cfg.window_s:
        out.append(d)
        d *= 2.0
    out.append(cfg.window_s)
    return out


def _at_most(counts: Sequence[int], n: int) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64)
    total = float(c.sum())
    return c * (max(n, 0) / total) if total > max(n, 0) else c


def _signal_matrix(reports: Sequence[TelemetryLike], groups: int) -> dict[str, np.ndarray]:
    """Per signal, one row of counts per report (input groups scaled to the report's inferences)."""
    r_count = len(reports)
    inp = np.zeros((groups, r_count, 16))
    width = max([len(r.cls) for r in reports] + [0])
    cls = np.zeros((r_count, width))
    conf = np.zeros((r_count, 16))
    for i, r in enumerate(reports):
        ih = np.asarray(r.input_hist, dtype=np.float64)
        if ih.shape == (groups, 16) and r.n > 0:
            totals = ih.sum(axis=1, keepdims=True)
            inp[:, i, :] = np.where(totals > 0, ih * r.n / np.where(totals > 0, totals, 1.0), 0.0)
        # a report's class and confidence counts cannot exceed its inferences: a device claiming more
        # is scaled down to its own n (hostile counts weigh no more than the device's real share)
        if len(r.cls):
            cls[i, : len(r.cls)] = _at_most(r.cls, r.n)
        if len(r.conf) == 16:
            conf[i] = _at_most(r.conf, r.n)
    out = {f"input[{g}]": inp[g] for g in range(groups)}
    out["output"] = cls
    out["confidence"] = conf
    return out


def _baseline_signals(b: Baseline) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for g, h in enumerate(b.input_hist):
        arr = np.asarray(h, dtype=np.float64)
        out[f"input[{g}]"] = arr * b.n / arr.sum() if arr.sum() > 0 else arr
    out["output"] = np.asarray(b.cls, dtype=np.float64)
    out["confidence"] = np.asarray(b.conf, dtype=np.float64)
    return out


def evidence(
    reports: Iterable[TelemetryLike],
    baseline: Baseline,
    now: float,
    since: float | None,
    cfg: DetectorConfig = DEFAULT_DETECTOR,
) -> Evidence | None:
    """The smallest-p test over scan windows × signals of reports with ``since < ts <= now``.

    None when no window holds ``min_samples`` inferences (nothing to test).
    """
    rs = [r for r in reports if r.ts <= now and (since is None or r.ts > since)]
    return _best(rs, baseline, now, scan_windows(cfg), cfg.min_samples)


def _coarse(ref: np.ndarray, live: np.ndarray, groups: int = COARSE_GROUPS) -> tuple[np.ndarray, np.ndarray]:
    """Both histograms on ``groups`` runs of adjacent bins holding about equal baseline mass (chosen
    from the baseline alone, so the test keeps its level): a smooth shift keeps most of its
    statistic on far fewer degrees of freedom."""
    total = float(ref.sum())
    mid = np.cumsum(ref) - ref / 2.0
    label = np.minimum(groups - 1, np.floor(groups * mid / total)).astype(np.int64)
    return np.bincount(label, ref, groups), np.bincount(label, live, groups)


def _best(
    rs: Sequence[TelemetryLike], baseline: Baseline, now: float, windows: Sequence[float], min_samples: int
) -> Evidence | None:
    if not rs:
        return None
    rs = sorted(rs, key=lambda r: r.ts)
    ts = np.asarray([r.ts for r in rs])
    # suffix sums: counts of the reports from index i to the end
    n_suffix = np.cumsum(np.asarray([r.n for r in rs], dtype=np.float64)[::-1])[::-1]
    mats = {
        k: np.cumsum(v[::-1], axis=0)[::-1] for k, v in _signal_matrix(rs, len(baseline.input_hist)).items()
    }
    base = _baseline_signals(baseline)
    results: list[tuple[float, str, float, HomogeneityTest]] = []
    last_first = -1
    for d in windows:
        first = int(np.searchsorted(ts, now - d, side="right"))
        if first >= len(rs) or first == last_first:
            continue  # empty, or the same reports as a shorter window
        last_first = first
        if n_suffix[first] < min_samples:
            continue
        for name, cum in mats.items():
            ref = base.get(name)
            live = cum[first]
            if ref is None or live.sum() <= 0 or ref.sum() <= 0:
                continue
            if ref.size != live.size:
                size = max(ref.size, live.size)
                ref, live = np.pad(ref, (0, size - ref.size)), np.pad(live, (0, size - live.size))
            for label, (a, b) in ((name, (ref, live)), (f"{name} coarse", _coarse(ref, live))):
                t = homogeneity_test(a, b)
                if t.df >= 1:
                    results.append((t.p_value, label, d, t))
    if not results:
        return None
    k = len(results)
    p, name, d, test = min(results, key=lambda r: r[0])
    excess = test.psi - psi_null_mean(test.bins, test.n, test.m)
    return Evidence(
        signal=name,
        window_s=d,
        n=test.m,
        m=test.n,
        statistic=test.statistic,
        df=test.df,
        p_value=p,
        p_adjusted=min(1.0, k * p),
        tests=k,
        psi=test.psi,
        psi_excess=excess,
    )


@dataclass(frozen=True)
class Subject:
    """One thing that may alert: its reports, its baseline, and its alert state."""

    key: str
    reports: Sequence[TelemetryLike]
    baseline: Baseline
    active: bool = False
    since: float | None = None  # time of the last decision (raise or clear)


@dataclass(frozen=True)
class Decision:
    key: str
    active: bool
    changed: bool
    reason: str
    evidence: Evidence | None = None
    extra: Mapping[str, float] = field(default_factory=dict)


def _clear_check(s: Subject, now: float, cfg: DetectorConfig) -> Evidence | None:
    """Excess PSI of the shortest window since the raise holding ``clear_samples`` inferences."""
    rs = [r for r in s.reports if r.ts <= now and (s.since is None or r.ts > s.since)]
    for d in scan_windows(cfg):
        inside = [r for r in rs if r.ts > now - d]
        if sum(r.n for r in inside) >= cfg.clear_samples:
            return _best(inside, s.baseline, now, [d], cfg.clear_samples)
    return None


def decide(subjects: Sequence[Subject], now: float, cfg: DetectorConfig = DEFAULT_DETECTOR) -> list[Decision]:
    """One look over every subject: who raises, who clears, who keeps its state, and why."""
    out: dict[str, Decision] = {}
    idle = [s for s in subjects if not s.active]
    evs = {s.key: evidence(s.reports, s.baseline, now, s.since, cfg) for s in idle}
    tested = [s.key for s in idle if evs[s.key] is not None]
    level = cfg.alpha_look
    rejected = (
        dict(
            zip(tested, benjamini_hochberg([evs[k].p_adjusted for k in tested], level), strict=True)  # type: ignore[union-attr]
        )
        if tested
        else {}
    )
    for s in idle:
        ev = evs[s.key]
        if ev is None:
            out[s.key] = Decision(
                s.key, False, False, f"fewer than {cfg.min_samples} inferences in every window"
            )
        elif not rejected[s.key]:
            out[s.key] = Decision(
                s.key, False, False, f"not significant: p_adj {ev.p_adjusted:.3g} (BH level {level:.3g})", ev
            )
        elif ev.psi_excess < cfg.min_effect:
            out[s.key] = Decision(
                s.key,
                False,
                False,
                f"significant (p_adj {ev.p_adjusted:.3g}) but excess PSI {ev.psi_excess:.3g} < {cfg.min_effect:g}",
                ev,
            )
        else:
            out[s.key] = Decision(
                s.key,
                True,
                True,
                f"{ev.signal}: G = {ev.statistic:.1f} on {ev.df} df over the last {ev.window_s:g} s "
                f"(n = {ev.n}, baseline {ev.m}), p_adj {ev.p_adjusted:.3g} <= BH level {level:.3g}; "
                f"excess PSI {ev.psi_excess:.3g} >= {cfg.min_effect:g}",
                ev,
            )
    for s in subjects:
        if not s.active:
            continue
        ev = _clear_check(s, now, cfg)
        if ev is not None and ev.psi_excess < cfg.clear_effect:
            out[s.key] = Decision(
                s.key,
                False,
                True,
                f"cleared: excess PSI {ev.psi_excess:.3g} < {cfg.clear_effect:g} over the last {ev.window_s:g} s",
                ev,
            )
        else:
            out[s.key] = Decision(
                s.key, True, False, "still drifting" if ev else "too few inferences since raised", ev
            )
    return [out[s.key] for s in subjects]
