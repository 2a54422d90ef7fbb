"""`tinyfleet sim`: N virtual devices in one asyncio process, each a real MQTT client (docs/agent.md)."""
