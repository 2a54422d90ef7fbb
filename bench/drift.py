"""Drift alerts and canary verdicts: error rates of the evidence-based rules beside the old
point-threshold rules, on seeded simulated telemetry (pure: no broker, no server; printed, never
asserted).

- False alarms: healthy devices whose telemetry is drawn from the true distribution behind a
  2000-sample baseline; share of device-days with an alert (target <= 1 %).
- Detection: after 4 h of healthy history, 10 % of a fleet shift their input by PSI 0.1 / 0.2 / 0.5
  (measured between the true and the shifted distribution); share alerted within 2 telemetry
  periods after 300 shifted inferences, within an hour, and the median delay.
- Canary: 5 canary devices × 500 inferences against 20 control devices; an equal candidate
  (false rollbacks, target <= 1 %) and a candidate 5 accuracy points worse (calibrated model: its
  mean confidence drops by 0.05; target >= 95 % stopped), with the confidence_drop gate (bound 0.02);
  median inferences per canary device when the gate decided.

``TINYFLEET_BENCH_DRIFT_DEVICE_DAYS`` sets the false-alarm device-days (default 1000).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from tinyfleet import drift as old_math
from tinyfleet.server.drift.alerts import AlertRule, AlertState, update
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.cohort import CohortStats
from tinyfleet.server.drift.detect import DetectorConfig, Subject, decide
from tinyfleet.server.rollout.gates import Outcome, health_verdicts
from tinyfleet.server.rollout.model import GateKind, HealthBound, HealthGate
from tinyfleet.stats.shift import tilt_to_psi

console = Console()
SEED = 20261208
COST: list[float] = []  # seconds of decide() per subject per look (the server's cost per device)
OLD_RULE = AlertRule(high=old_math.PSI_SIGNIFICANT, low=old_math.PSI_MODERATE, min_samples=100)


@dataclass(frozen=True)
class _Report:
    ts: float
    n: int
    input_hist: list[list[int]]
    cls: list[int]
    conf: list[int]
    model: str = "1.0.0"
    err: int = 0
    lat_p95_us: float = 0.0


class _Truth:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.inp = rng.dirichlet(np.full(16, 3.0))
        self.cls = rng.dirichlet(np.full(10, 8.0))
        self.conf = np.concatenate([np.zeros(8), rng.dirichlet(np.full(8, 2.0))])
        self.shifted: dict[float, np.ndarray] = {}

    def baseline(self, n: int) -> Baseline:
        r = self.rng
        return Baseline(
            n,
            (tuple(int(c) for c in r.multinomial(16 * n, self.inp)),),
            tuple(int(c) for c in r.multinomial(n, self.cls)),
            tuple(int(c) for c in r.multinomial(n, self.conf)),
        )

    def report(self, ts: float, n: int, psi: float = 0.0) -> _Report:
        if psi and psi not in self.shifted:
            self.shifted[psi] = tilt_to_psi(self.inp, psi)
        p = self.shifted[psi] if psi else self.inp
        r = self.rng
        return _Report(
            ts,
            n,
            [r.multinomial(16 * n, p).tolist()],
            r.multinomial(n, self.cls).tolist(),
            r.multinomial(n, self.conf).tolist(),
        )


def _old_value(reports: list[_Report], base: Baseline) -> tuple[float | None, int]:
    """The old rule's reading: output-class PSI (eps 1e-4) of the last hour merged."""
    n = sum(r.n for r in reports)
    if not n:
        return None, 0
    cls = np.sum([r.cls for r in reports], axis=0)
    return old_math.psi(list(base.cls), cls.tolist()), n


def _simulate(
    truth: _Truth,
    base: Baseline,
    devices: int,
    drifting: set[int],
    psi: float,
    shift_at: float,
    end: float,
    period: float,
    rate: int,
    look_from: float,
    cfg: DetectorConfig,
) -> tuple[dict[int, float], dict[int, float], set[tuple[int, int]], set[tuple[int, int]]]:
    """First alert time per device (new detector, old rule) and the (device, day) pairs with an
    alert raised (new, old); looks every ``cfg.interval_s``."""
    reports: dict[int, list[_Report]] = {d: [] for d in range(devices)}
    new_state = {d: (False, None) for d in range(devices)}
    old_state = {d: AlertState() for d in range(devices)}
    new_first: dict[int, float] = {}
    old_first: dict[int, float] = {}
    new_days: set[tuple[int, int]] = set()  # (device, day) with an alert raised
    old_days: set[tuple[int, int]] = set()
    t = 0.0
    next_look = look_from
    while t < end:
        t += period
        for d in range(devices):
            shifted = d in drifting and t > shift_at
            reports[d].append(truth.report(t, rate, psi if shifted else 0.0))
            reports[d] = [r for r in reports[d] if r.ts > t - cfg.window_s]
        if t < next_look:
            continue
        next_look += cfg.interval_s
        subjects = [Subject(str(d), reports[d], base, *new_state[d]) for d in range(devices)]
        t0 = time.perf_counter()
        decisions = decide(subjects, t, cfg)
        COST.append((time.perf_counter() - t0) / len(subjects))
        for dec in decisions:
            d = int(dec.key)
            if dec.changed:
                new_state[d] = (dec.active, t)  # type: ignore[assignment]
                if dec.active:
                    new_first.setdefault(d, t)
                    new_days.add((d, int(t // 86400)))
        for d in range(devices):
            value, n = _old_value(reports[d], base)
            old_state[d], ev = update(OLD_RULE, old_state[d], value, n, t)
            if ev is not None and old_state[d].active:
                old_first.setdefault(d, t)
                old_days.add((d, int(t // 86400)))
    return new_first, old_first, new_days, old_days


def _false_alarms(device_days: int) -> Table:
    rng = np.random.default_rng(SEED)
    truth = _Truth(rng)
    base = truth.baseline(2000)
    # accelerated: low-rate devices (30 inferences per 10-minute telemetry period), a look per
    # period; the detector's per-day guarantee does not depend on the look interval (alpha per look
    # = alpha_day * interval / day); the old rule sees its 100-inference minimum within the hour
    cfg = DetectorConfig(interval_s=600.0, window_s=3600.0)
    devices = min(device_days, 250)
    days = max(1, round(device_days / devices))
    _, _, new_days, old_days = _simulate(
        truth, base, devices, set(), 0.0, 0.0, 86400.0 * days, 600.0, 30, 3600.0, cfg
    )
    total = devices * days
    table = Table(title=f"false alarms: {devices} healthy devices × {days} day(s) = {total} device-days")
    for col in ("rule", "device-days with an alert", "share", "target"):
        table.add_column(col)
    table.add_row(
        "new: G-test, spending, BH, excess PSI >= 0.1",
        str(len(new_days)),
        f"{len(new_days) / total:.2%}",
        "<= 1 %",
    )
    table.add_row(
        "old: output PSI > 0.25 (1 h window, >= 100 inferences)",
        str(len(old_days)),
        f"{len(old_days) / total:.2%}",
        "<= 1 %",
    )
    return table


def _detection() -> Table:
    period, rate = 60.0, 60  # 1 inference/s, telemetry every minute
    cfg = DetectorConfig(interval_s=period, window_s=3600.0)
    table = Table(title="detection: 100 devices, 10 shift their input after 4 h of healthy history")
    for col in (
        "input PSI",
        "rule",
        "alerted by 300 inf. + 2 periods",
        "within 1 h",
        "median delay (periods)",
        "healthy alerted",
    ):
        table.add_column(col)
    shift_at = 4 * 3600.0
    for psi in (0.1, 0.2, 0.5):
        rng = np.random.default_rng(SEED + int(psi * 100))
        truth = _Truth(rng)
        base = truth.baseline(2000)
        drifting = set(range(10))
        new_first, old_first, _, _ = _simulate(
            truth, base, 100, drifting, psi, shift_at, shift_at + 3600.0, period, rate, shift_at - 3600.0, cfg
        )
        deadline = shift_at + (300 / rate + 2) * period
        for name, first in (("new", new_first), ("old", old_first)):
            caught = [first[d] for d in drifting if d in first and first[d] > shift_at]
            early = sum(1 for d in drifting if d in first and shift_at < first[d] <= deadline)
            delays = [(t - shift_at) / period for t in caught]
            false = sum(1 for d in first if d not in drifting)
            table.add_row(
                f"{psi:g}",
                name,
                f"{early}/10",
                f"{len(caught)}/10",
                f"{statistics.median(delays):.0f}" if delays else "-",
                str(false),
            )
    return table


def _cohort(n: int, conf: np.ndarray) -> CohortStats:
    total = int(conf.sum())
    mean = float(((np.arange(16) + 0.5) / 16 * conf).sum() / total) if total else 0.0
    return CohortStats(5, 5, n, 0.0, mean, 1000.0, None, 0, tuple(int(c) for c in conf), None)


def _canary_runs(
    rng: np.random.Generator, drop: float, runs: int
) -> tuple[list[Outcome], list[Outcome], list[int]]:
    """Per run: new-rule outcome, old-rule outcome, inferences per canary device at the decision."""
    base_conf = np.concatenate([np.zeros(8), rng.dirichlet(np.full(8, 2.0))])
    mids = (np.arange(16) + 0.5) / 16
    # a calibrated candidate `drop` points worse: its confidence mass tilted until the mean drops by `drop`
    worse = base_conf.copy()
    if drop:
        lo, hi = 0.0, 20.0
        for _ in range(60):
            s = 0.5 * (lo + hi)
            q = base_conf * np.exp(-s * mids)
            q /= q.sum()
            if float(base_conf @ mids - q @ mids) < drop:
                lo = s
            else:
                hi = s
        worse = q
    health = HealthGate(bounds=(HealthBound(GateKind.CONFIDENCE_DROP, 0.02),), min_samples=100)
    new_out: list[Outcome] = []
    old_out: list[Outcome] = []
    used: list[int] = []
    for _ in range(runs):
        canary = np.zeros(16)
        control = np.zeros(16)
        new = old = Outcome.WAIT
        per_device = 0
        decided_at = 500
        for _look in range(10):  # 50 inferences per device per look, up to 500
            per_device += 50
            canary += rng.multinomial(5 * 50, worse)
            control += rng.multinomial(20 * 50, base_conf)
            ca, co = _cohort(5 * per_device, canary), _cohort(20 * per_device, control)
            if new is Outcome.WAIT:
                [v] = health_verdicts(health, ca, co)
                if v.outcome is not Outcome.WAIT:
                    new, decided_at = v.outcome, per_device
            if (
                old is Outcome.WAIT
                and 5 * per_device >= 100
                and co.mean_confidence - ca.mean_confidence > 0.02
            ):
                old = Outcome.FAIL  # the old rule compared point values at every look
        new_out.append(new)
        old_out.append(old)
        used.append(decided_at)
    return new_out, old_out, used


def _canary(runs: int = 1000) -> Table:
    rng = np.random.default_rng(SEED + 7)
    table = Table(
        title=f"canary: 5 canary × 500 inferences vs 20 control devices, confidence_drop bound 0.02, {runs} runs each"
    )
    for col in (
        "candidate",
        "rule",
        "stopped (rollback)",
        "passed",
        "inconclusive at 500",
        "median inferences/device to decide",
        "target",
    ):
        table.add_column(col)
    for label, drop, target in (
        ("equal", 0.0, "stopped <= 1 %"),
        ("5 points worse", 0.05, "stopped >= 95 %"),
    ):
        new, old, used = _canary_runs(rng, drop, runs)
        table.add_row(
            label,
            "new",
            f"{new.count(Outcome.FAIL) / runs:.1%}",
            f"{new.count(Outcome.PASS) / runs:.1%}",
            f"{new.count(Outcome.WAIT) / runs:.1%}",
            f"{statistics.median(used):.0f}",
            target,
        )
        table.add_row(
            label, "old", f"{old.count(Outcome.FAIL) / runs:.1%}", "-", "-", "100 (min_samples)", target
        )
    return table


def run() -> None:
    device_days = int(os.environ.get("TINYFLEET_BENCH_DRIFT_DEVICE_DAYS", "1000"))
    console.print(_canary())
    console.print(_detection())
    cost = sorted(COST)
    console.print(
        f"detector cost (1-minute looks, 1 h of reports, 3 signals): median {1e3 * cost[len(cost) // 2]:.2f} ms "
        f"per device per look (one core); the server looks every drift_interval"
    )
    console.print(_false_alarms(device_days))


if __name__ == "__main__":
    run()
