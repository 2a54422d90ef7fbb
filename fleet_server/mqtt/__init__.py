"""The server's MQTT side: one paho-mqtt (MQTT 5) connection, validated ingest, desired-state outbox."""

from tinyfleet.server.mqtt.client import MqttLink
from tinyfleet.server.mqtt.ingest import Ingest

__all__ = ["Ingest", "MqttLink"]
