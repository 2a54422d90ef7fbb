"""Item 6 of issue 11: ``tinyfleet sim`` against an unreachable broker exits non-zero with one line."""

from __future__ import annotations

import socket
import subprocess
import sys


def test_sim_exits_non_zero_when_the_broker_is_unreachable() -> None:
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        res = subprocess.run(
            [sys.executable, "-m", "tinyfleet.cli.main", "sim", "--devices", "2", "--seed", "s"]
            + ["--broker", f"127.0.0.1:{port}", "--duration", "2"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert res.returncode == 2, res
    assert res.stderr.strip() == f"error: MQTT broker 127.0.0.1:{port} is unreachable: Connection refused"
