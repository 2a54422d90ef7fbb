"""Prometheus metrics of the server process (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ARTIFACT_BYTES",
    "BROKER_RESTARTS",
    "DESIRED_PUBLISHED",
    "DEVICES_ONLINE",
    "INGEST_BATCH_SECONDS",
    "MQTT_DROPPED",
    "MQTT_RECEIVED",
    "ROLLOUT_STEPS",
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
DEVICES_ONLINE = Gauge("tinyfleet_devices_online", "Devices whose online flag is set")
BROKER_RESTARTS = Gauge("tinyfleet_broker_restarts", "Times the supervised broker was restarted")
ARTIFACT_BYTES = Counter(
    "tinyfleet_artifact_bytes_total", "Artifact download requests by outcome", ["outcome"]
)
