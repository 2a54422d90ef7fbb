"""The simulator captures from its data source: `tinyfleet sim --capture-data` against a real server."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from testkit.server import FleetServer, running_server
from tinyfleet.capture import read_dataset


@pytest.fixture
def srv() -> Iterator[FleetServer]:
    with running_server() as s:
        yield s


def test_sim_devices_serve_a_capture_request(srv: FleetServer, tmp_path: Path) -> None:
    ids = ["cs-0", "cs-1", "cs-2"]
    creds = {d: srv.add_device(d, board="rpi4") for d in ids}
    (tmp_path / "devices.csv").write_text("".join(f"{d},{c['secret']}\n" for d, c in creds.items()))
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (40, 4), dtype=np.int8)
    np.savez(
        tmp_path / "source.npz",
        x=x,
        y=np.arange(40) % 3,
        outputs=rng.integers(-128, 128, (40, 3), dtype=np.int8),
    )
    srv.publish_model(srv.make_package("tiny", "1.0.0", 1))
    with srv.api as c:
        c.put("/api/v1/groups/sims", json={"name": "sims", "devices": ids[:2]})  # cs-2 is not asked
        c.put("/api/v1/capture/groups/sims", json={"enabled": True})
        req = c.post("/api/v1/capture/requests", json={"model": "tiny", "group": "sims", "count": 5}).json()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "sim",
            "--devices",
            "3",
            "--credentials",
            str(tmp_path / "devices.csv"),
            "--broker",
            f"127.0.0.1:{srv.broker_port}",
            "--http",
            srv.url,
            "--pubkey",
            str(srv.key_dir / "tinyfleet-signing.pub"),
            "--heartbeat",
            "1",
            "--capture-data",
            str(tmp_path / "source.npz"),
            "--duration",
            "40",
            "--stats-every",
            "100",
        ],
        env=srv.cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 40
        state: dict = {}
        while time.monotonic() < deadline:
            with srv.api as c:
                state = c.get(f"/api/v1/capture/requests/{req['id']}").json()
            if state["samples_received"] == 10:
                break
            time.sleep(1.0)
        assert state["samples_received"] == 10, state
        with srv.api as c:
            ds = c.post(f"/api/v1/capture/requests/{req['id']}/close").json()
            arrays = read_dataset(c.get(f"/api/v1/datasets/{ds['version']}/data").content)
    finally:
        sim.terminate()
        sim.wait(30)
    assert sorted(set(arrays["device"].tolist())) == ["cs-0", "cs-1"]
    # every captured sample is one of the source's rows, with its label and output
    rows = {bytes(x[i]): i for i in range(40)}
    for xi, yi in zip(arrays["x"], arrays["y"], strict=True):
        assert bytes(xi) in rows and yi == rows[bytes(xi)] % 3
