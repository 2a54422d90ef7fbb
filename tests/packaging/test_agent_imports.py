"""The edge agent's import path stays slim: nothing of the server, the compiler or plotting.

Runs in a fresh interpreter (the test process has imported everything already). The agent's CLI,
its run loop, the gateway, the simulator and a LiteRT model actually loaded and run are imported
or exercised; then `sys.modules` must hold none of the forbidden distributions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What a Raspberry Pi must never load to run a model (and which would cost it tens of MB of RSS).
FORBIDDEN = {
    "tensorflow",
    "keras",
    "tf2onnx",
    "onnx",
    "tflite_micro",
    "sklearn",
    "scipy",
    "matplotlib",
    "pandas",
    "pydantic",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "prometheus_client",
    "platformio",
    "SCons",
    "gmqtt",
    "opentelemetry",
}

_PROBE = r"""
import json, sys
from pathlib import Path
from click.testing import CliRunner
import tinyfleet.cli.main as main
r = CliRunner().invoke(main.cli, ["agent", "run", "--help"])
assert r.exit_code == 0, r.output
import tinyfleet.agent.agent, tinyfleet.agent.gateway, tinyfleet.agent.serve, tinyfleet.agent.sim.fleet
from tinyfleet.agent.runtimes import load_model, self_test
from tinyfleet.package import read_package
from tinyfleet.signing import load_trusted_keys
pkg = read_package(Path(sys.argv[1]), load_trusted_keys([Path(sys.argv[2])]))
ok, _, why = self_test(load_model(pkg, "litert"))
assert ok, why
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_agent_import_path_has_no_heavy_packages(tiny_package) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            str(tiny_package.path),
            str(tiny_package.keys / "tinyfleet-signing.pub"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    loaded = set(json.loads(r.stdout.strip().splitlines()[-1]))
    assert "ai_edge_litert" in loaded or "tflite_runtime" in loaded
    assert not loaded & FORBIDDEN, sorted(loaded & FORBIDDEN)
