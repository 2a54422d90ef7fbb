"""Fixtures of the security tests: the agent tests' helpers (a running agent on a thread)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "agent"))  # agent_running
sys.path.insert(0, str(Path(__file__).parent))  # secutil

from testkit.server import fleet_server_proc  # noqa: F401  (fixture)
