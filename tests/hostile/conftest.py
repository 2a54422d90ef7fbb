"""Fixtures of the hostile tests: a real server subprocess with its own Mosquitto (testkit.server)."""

from __future__ import annotations

import sys
from pathlib import Path

from testkit.server import fleet_keys, fleet_server_proc, postgres_url  # noqa: F401  (fixtures)

sys.path.insert(0, str(Path(__file__).parent))  # mqttdev
