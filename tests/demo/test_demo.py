"""`make demo`, shortened: the whole loop with 20 simulated devices and one emulated MCU.

Real parts throughout: the fleet server with its own Mosquitto, the firmware built by PlatformIO and
booted in QEMU behind a gateway agent, a Linux agent on LiteRT, the simulator. Training is reused from
the session's digits build (the same pipeline `make demo` runs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.qemu
def test_demo_runs_every_step(digits_package, tmp_path: Path) -> None:
    work = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyfleet.demo",
            "--duration",
            "0",
            "--sim-devices",
            "20",
            "--mcus",
            "1",
            "--workdir",
            str(work),
            "--prebuilt",
            str(digits_package.out_dir),
            str(digits_package.keys_dir),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "200"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for step in range(1, 8):
        assert f"{step}/7" in out
    assert "23 devices online" in out  # 20 simulated + the Linux agent + the gateway + one MCU
    assert "drift alert" in out
    assert "v3 never reached a device outside the canary" in out
    assert "model versions per device class" in out
    # Every child process was stopped.
    ps = subprocess.run(["pgrep", "-f", str(work)], capture_output=True, text=True)
    assert ps.stdout.strip() == "", ps.stdout
