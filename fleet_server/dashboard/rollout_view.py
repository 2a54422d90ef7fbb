"""A rollout as its page shows it: per-stage progress, the actions the engine allows now, and the ML
health gate's canary-vs-control figures with the engine's own verdicts.

Pure (no I/O): the caller loads the state (``scheduler.handler.load_state``) and the snapshot
(``scheduler.snapshot.build_snapshot``). Every figure comes from the engine's functions: stage caps
from ``planner.stage_cap``, allowed actions by asking ``engine.command`` (which refuses what the
transition table does not allow), cohorts from ``engine.cohorts``, their figures from
``engine.cohort_figures`` and the verdicts from the engine's own health check.
"""

from __future__ import annotations

from typing import Any

from tinyfleet.errors import UsageError
from tinyfleet.server.drift.cohort import CohortStats
from tinyfleet.server.rollout import engine
from tinyfleet.server.rollout.events import DeviceStatus, RolloutState
from tinyfleet.server.rollout.gates import Verdict
from tinyfleet.server.rollout.machine import Status
from tinyfleet.server.rollout.model import FleetSnapshot, GateKind
from tinyfleet.server.rollout.planner import stage_cap

__all__ = ["allowed_actions", "gate_view", "stages_view"]


def stages_view(state: RolloutState, target_size: int) -> list[dict[str, Any]]:
    """Each stage: its planned size (from the planner's cap), and its devices by status."""
    out = []
    cap_before = 0
    for i, st in enumerate(state.spec.stages):
        before = {d for d, r in state.devices.items() if r.stage < i}
        cap = stage_cap(st, target_size, before)
        counts = {s.value: state.count(s, i) for s in DeviceStatus}
        assigned = len(state.stage_devices(i))
        if state.status is Status.SUCCEEDED or i < state.stage:
            phase = "done"
        elif i == state.stage:
            phase = state.status.value
        else:
            phase = "waiting"
        share = (
            f"{len(st.devices)} named"
            if st.devices
            else f"{st.count} devices"
            if st.count is not None
            else f"{st.percent:g} %"
        )
        out.append(
            {
                "index": i,
                "name": st.name,
                "share": share,
                "target": max(cap - cap_before, assigned),
                "assigned": assigned,
                "confirmed": counts["confirmed"],
                "failed": counts["failed"],
                "rollback_issued": counts["rollback_issued"],
                "restored": counts["restored"],
                "phase": phase,
                "soak_s": st.soak_s,
                "manual_approval": st.manual_approval,
            }
        )
        cap_before = max(cap, cap_before)
    return out


def allowed_actions(state: RolloutState, now: float) -> list[str]:
    """The operator commands the engine accepts in the rollout's current state."""
    ok = []
    for cmd in engine.Command:
        try:
            engine.command(state, cmd, now)
        except UsageError:
            continue
        ok.append(cmd.value)
    return ok


_METRICS: tuple[tuple[str, str, str, GateKind], ...] = (
    ("drift", "drift vs baseline", "", GateKind.DRIFT),
    ("confidence", "mean confidence", "probability 0–1", GateKind.CONFIDENCE_DROP),
    ("error_rate", "inference error rate", "share of inferences", GateKind.ERROR_RATE),
    ("latency_p95", "latency p95", "µs", GateKind.LATENCY_P95),
    ("est_accuracy", "label-free accuracy (CBPE)", "share 0–1", GateKind.EST_ACCURACY_DROP),
)
_COMPARED = {
    GateKind.DRIFT: "canary − control",
    GateKind.CONFIDENCE_DROP: "control − canary",
    GateKind.ERROR_RATE: "canary − control",
    GateKind.LATENCY_P95: "canary / control",
    GateKind.EST_ACCURACY_DROP: "control − canary",
}


def _value(stats: CohortStats, name: str) -> float | None:
    if stats.n == 0:
        return None
    return {
        "drift": stats.drift,
        "confidence": stats.mean_confidence,
        "error_rate": stats.error_rate,
        "latency_p95": stats.latency_p95_us,
        "est_accuracy": stats.est_accuracy,
    }[name]


def gate_view(state: RolloutState, snapshot: FleetSnapshot, now: float) -> dict[str, Any]:
    """Canary (confirmed on the new version) vs control (untouched target devices) right now."""
    health = state.spec.health
    canary, control = engine.cohorts(state, snapshot)
    c_stats, k_stats = engine.cohort_figures(state, snapshot, now)
    # the verdicts the scheduler's next tick would reach (engine.health: also knows a waived stage)
    verdicts: dict[GateKind, Verdict] = {v.gate: v for v in engine.health(state, snapshot, now)}
    metrics = []
    for name, label, unit, gate in _METRICS:
        v = verdicts.get(gate)
        metrics.append(
            {
                "name": name,
                "label": label
                if name != "drift"
                else f"drift ({health.metric} of {health.signal.value}) vs baseline",
                "unit": unit or health.metric.upper(),
                "canary": _value(c_stats, name),
                "control": _value(k_stats, name),
                "gate": gate.value,
                "compared": _COMPARED[gate],
                "value": v.value if v else None,
                "bound": v.bound if v else None,
                "outcome": v.outcome.value if v else "not gated",
                "detail": v.detail if v else "",
                "lower": v.lower if v else None,  # the interval that decided
                "upper": v.upper if v else None,
                "samples": list(v.samples) if v and v.samples else None,
            }
        )
    return {
        "ts": now,
        "gated": bool(health.bounds),
        "canary_devices": len(canary),
        "control_devices": len(control),
        "canary_n": c_stats.n,
        "control_n": k_stats.n,
        "min_samples": health.min_samples,
        "window_s": health.window_s,
        "metrics": metrics,
    }
