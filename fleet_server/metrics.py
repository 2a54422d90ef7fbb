"""Prometheus metrics of the server (served at ``/metrics``).

Two kinds, named per Prometheus conventions (base units, ``_total`` for counters, ``_seconds``,
``_bytes``):

- **process metrics** (counters, histograms) count what *this* server process did; with several
  replicas, sum them (``sum without(instance)``);
- **fleet metrics** (gauges) describe the fleet's state in the shared database. Every replica exports
  the same values, read at scrape time (cached for ``FLEET_CACHE_S``); aggregate them with ``max``.

The catalogue of names is ``METRICS`` below; docs/server.md's table is generated from it
(``python -m tinyfleet.server.metrics``), and the dashboard and alert rules use only these names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from tinyfleet.server.db import Database

__all__ = [
    "ARTIFACT_BYTES",
    "ARTIFACT_REQUESTS",
    "BROKER_RESTARTS",
    "DESIRED_PUBLISHED",
    "DEVICES_ONLINE",
    "FLEET_CACHE_S",
    "HTTP_DURATION",
    "INGEST_BATCH_SECONDS",
    "METRICS",
    "MQTT_DROPPED",
    "MQTT_RECEIVED",
    "ROLLOUT_STEPS",
    "SCHEDULER_ROUND_SECONDS",
    "FleetCollector",
    "install_fleet_collector",
]

MQTT_RECEIVED = Counter("tinyfleet_mqtt_received_total", "Valid MQTT messages ingested", ["channel"])
MQTT_DROPPED = Counter(
    "tinyfleet_mqtt_dropped_total",
    "Inbound MQTT messages refused (malformed, oversized, spoofed, unknown device, overload)",
    ["reason"],
)
INGEST_BATCH_SECONDS = Histogram(
    "tinyfleet_ingest_batch_seconds", "Time to write one ingest batch to the database"
)
DESIRED_PUBLISHED = Counter("tinyfleet_desired_published_total", "Desired states published to devices")
ROLLOUT_STEPS = Counter(
    "tinyfleet_rollout_steps_total", "Rollout engine steps taken by this process", ["outcome"]
)
SCHEDULER_ROUND_SECONDS = Histogram(
    "tinyfleet_scheduler_round_seconds", "Time of one scheduler round over the active rollouts"
)
DEVICES_ONLINE = Gauge("tinyfleet_devices_online", "Devices whose online flag is set")
BROKER_RESTARTS = Counter(
    "tinyfleet_broker_restarts_total", "Times this process restarted its supervised Mosquitto"
)
ARTIFACT_REQUESTS = Counter(
    "tinyfleet_artifact_requests_total", "Artifact download requests by outcome", ["outcome"]
)
ARTIFACT_BYTES = Counter("tinyfleet_artifact_bytes_total", "Artifact bytes sent to devices and clients")
HTTP_DURATION = Histogram(
    "tinyfleet_http_request_duration_seconds",
    "HTTP request duration by route template, method and status code",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

FLEET_CACHE_S = 10.0
MAX_ROLLOUT_SERIES = 50  # the most recent rollouts exported (bounded cardinality)

# name → (type, help, labels) of the fleet gauges exported by FleetCollector
FLEET_GAUGES: dict[str, tuple[str, list[str]]] = {
    "tinyfleet_devices": (
        "Enrolled devices by board, model, version, online flag and update state",
        ["board", "model", "version", "online", "update_state"],
    ),
    "tinyfleet_rollout_status": (
        "1 for the status each recent rollout is in",
        ["rollout", "model", "version", "status"],
    ),
    "tinyfleet_rollout_stage": ("Current stage index of a rollout (0 = first)", ["rollout"]),
    "tinyfleet_rollout_stages": ("Number of stages of a rollout", ["rollout"]),
    "tinyfleet_rollout_devices": ("Devices of a rollout by their status in it", ["rollout", "status"]),
    "tinyfleet_rollout_gate_verdict": (
        "1 for each gate verdict of a rollout's latest decision",
        ["rollout", "gate", "outcome"],
    ),
    "tinyfleet_drift_score": (
        "Fleet drift score (PSI, last hour) of a model version against its baseline",
        ["model", "version", "signal"],
    ),
    "tinyfleet_drift_alert": ("1 while a model version's drift alert is raised", ["model", "version"]),
    "tinyfleet_model_devices_reporting": (
        "Devices of a model version that sent telemetry in the last hour",
        ["model", "version"],
    ),
}


def _process_metrics() -> dict[str, tuple[str, str, list[str]]]:
    out: dict[str, tuple[str, str, list[str]]] = {}
    for m in (
        MQTT_RECEIVED,
        MQTT_DROPPED,
        INGEST_BATCH_SECONDS,
        DESIRED_PUBLISHED,
        ROLLOUT_STEPS,
        SCHEDULER_ROUND_SECONDS,
        DEVICES_ONLINE,
        BROKER_RESTARTS,
        ARTIFACT_REQUESTS,
        ARTIFACT_BYTES,
        HTTP_DURATION,
    ):
        kind = type(m).__name__.lower()
        name = m._name + ("_total" if kind == "counter" else "")  # prometheus_client keeps the base name
        out[name] = (kind, m._documentation, list(m._labelnames))
    return out


def catalogue() -> dict[str, tuple[str, str, list[str]]]:
    """Every metric name → (type, help, labels)."""
    out = _process_metrics()
    for name, (doc, labels) in FLEET_GAUGES.items():
        out[name] = ("gauge", doc, labels)
    return out


METRICS = catalogue()


class FleetCollector(Collector):
    """The fleet's state from the database, read at scrape time (cached ``FLEET_CACHE_S``)."""

    def __init__(self, db: Database, now: Callable[[], float] = time.time) -> None:
        self.db = db
        self.now = now
        self._lock = threading.Lock()
        self._cached: list[GaugeMetricFamily] = []
        self._at = float("-inf")

    def describe(self) -> Iterator[GaugeMetricFamily]:  # no scrape at registration time
        for name, (doc, labels) in FLEET_GAUGES.items():
            yield GaugeMetricFamily(name, doc, labels=labels)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            if time.monotonic() - self._at >= FLEET_CACHE_S:
                self._cached = self._read()
                self._at = time.monotonic()
            yield from self._cached

    def invalidate(self) -> None:
        with self._lock:
            self._at = float("-inf")

    def _read(self) -> list[GaugeMetricFamily]:
        fams = {
            name: GaugeMetricFamily(name, doc, labels=labels) for name, (doc, labels) in FLEET_GAUGES.items()
        }
        try:
            with self.db.session() as s:
                self._devices(s, fams)
                self._rollouts(s, fams)
                self._drift(s, fams)
        except Exception:  # a scrape must not fail because the database hiccupped
            import logging

            logging.getLogger("tinyfleet.metrics").exception("fleet metrics unavailable")
        return list(fams.values())

    @staticmethod
    def _devices(s: Any, fams: dict[str, GaugeMetricFamily]) -> None:
        from sqlalchemy import func, select

        from tinyfleet.server.db import Device

        rows = s.execute(
            select(
                Device.board,
                Device.model_name,
                Device.model_version,
                Device.online,
                Device.update_state,
                func.count(),
            ).group_by(
                Device.board, Device.model_name, Device.model_version, Device.online, Device.update_state
            )
        )
        for board, model, version, online, upd, n in rows:
            state = getattr(upd, "value", upd)
            fams["tinyfleet_devices"].add_metric(
                [board, model or "", version or "", "1" if online else "0", str(state or "")], n
            )

    @staticmethod
    def _rollouts(s: Any, fams: dict[str, GaugeMetricFamily]) -> None:
        from sqlalchemy import func, select

        from tinyfleet.server.db import Assignment, ModelRow, Rollout, RolloutEvent

        rows = s.execute(
            select(Rollout, ModelRow.name, ModelRow.version)
            .join(ModelRow, ModelRow.id == Rollout.model_id)
            .order_by(Rollout.id.desc())
            .limit(MAX_ROLLOUT_SERIES)
        ).all()
        for row, name, version in rows:
            rid = str(row.id)
            status = getattr(row.status, "value", row.status)
            fams["tinyfleet_rollout_status"].add_metric([rid, name, version, str(status)], 1)
            fams["tinyfleet_rollout_stages"].add_metric([rid], len((row.spec or {}).get("stages", [])))
            last = s.scalars(
                select(RolloutEvent)
                .where(RolloutEvent.rollout_id == row.id, RolloutEvent.kind == "transition")
                .order_by(RolloutEvent.seq.desc())
                .limit(1)
            ).first()
            data = last.data if last is not None and isinstance(last.data, dict) else {}
            stage = data.get("stage")
            fams["tinyfleet_rollout_stage"].add_metric([rid], float(stage) if isinstance(stage, int) else 0.0)
            for v in data.get("verdicts") or []:
                if isinstance(v, dict):
                    fams["tinyfleet_rollout_gate_verdict"].add_metric(
                        [rid, str(v.get("gate", "")), str(v.get("outcome", ""))], 1
                    )
            counts = s.execute(
                select(Assignment.status, func.count())
                .where(Assignment.rollout_id == row.id)
                .group_by(Assignment.status)
            ).all()
            for st, n in counts:
                fams["tinyfleet_rollout_devices"].add_metric([rid, str(st)], n)

    def _drift(self, s: Any, fams: dict[str, GaugeMetricFamily]) -> None:
        from tinyfleet.server.drift_report import drift_report

        for rep in drift_report(s, self.now(), "psi", 3600.0):
            labels = [rep["name"], rep["version"]]
            fams["tinyfleet_drift_alert"].add_metric(labels, 1.0 if rep.get("alert") else 0.0)
            fams["tinyfleet_model_devices_reporting"].add_metric(labels, rep.get("reporting", 0))
            for signal in ("output", "confidence", "input"):
                value = rep.get(signal)
                if isinstance(value, (int, float)):
                    fams["tinyfleet_drift_score"].add_metric([*labels, signal], float(value))


_installed: FleetCollector | None = None
_install_lock = threading.Lock()


def install_fleet_collector(db: Database) -> FleetCollector:
    """Register the fleet collector for ``db`` in the default registry (replacing an earlier one)."""
    global _installed
    with _install_lock:
        if _installed is not None:
            REGISTRY.unregister(_installed)
        _installed = FleetCollector(db)
        REGISTRY.register(_installed)
        return _installed


def markdown_table() -> str:
    lines = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for name, (kind, doc, labels) in sorted(METRICS.items()):
        lines.append(f"| `{name}` | {kind} | {', '.join(labels) or '—'} | {doc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
