"""The tinyfleet fleet server: device and model registry, MQTT ingest, staged rollouts, drift, REST API."""
