"""The continuous-training loop on the digits example (docs/mlops.md): time from a drift alert to a
canary rollout of the retrained model (capture, labels, training with the spec's 30 epochs,
champion/challenger, publish), bytes uploaded per captured sample, and accuracy on the drifted data
(all 1797 digits, inverted) before and after the loop. Figures are printed, never asserted.

``TINYFLEET_BENCH_LOOP_DEVICES`` (default 4) devices each capture
``TINYFLEET_BENCH_LOOP_COUNT`` (default 60) samples with the drift trigger.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from testkit.server import FleetServer, running_server

REPO = Path(__file__).resolve().parents[1]


def _tick_until(srv: FleetServer, run_id: int, statuses: set[str], timeout: float = 900.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with srv.api as c:
            c.post("/api/v1/policies/tick")
            run = c.get(f"/api/v1/policies/runs/{run_id}").json()
        if run["status"] in statuses:
            return run
        time.sleep(0.5)
    raise RuntimeError(f"loop iteration {run_id} stuck at {run.get('status')}")


def run() -> None:
    from sklearn.datasets import load_digits

    from tinyfleet.agent.capture import CaptureClient, capture_from_source
    from tinyfleet.capture import record_bytes
    from tinyfleet.compiler.challenge import score_model
    from tinyfleet.compiler.runtimes import tflm_run
    from tinyfleet.package import read_package
    from tinyfleet.signing import load_trusted_keys

    n_dev = int(os.environ.get("TINYFLEET_BENCH_LOOP_DEVICES", "4"))
    count = int(os.environ.get("TINYFLEET_BENCH_LOOP_COUNT", "60"))
    work = Path(tempfile.mkdtemp(prefix="tinyfleet-bench-loop-"))
    (work / "digits.toml").write_text((REPO / "examples" / "digits.toml").read_text())
    with running_server() as srv:
        env = {**srv.env}
        t_build = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tinyfleet.cli.main", "model", "build", "digits.toml", "--out", "champ"],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )
        t_build = time.perf_counter() - t_build
        champ_bytes = (work / "champ" / "digits-1.0.0.tfpkg").read_bytes()
        keys = load_trusted_keys([srv.key_dir / "tinyfleet-signing.pub"])
        champ = read_package(champ_bytes, keys)
        srv.publish_model(champ_bytes)
        devices = [f"b{i}" for i in range(n_dev)]
        creds = {d: srv.add_device(d, board="linux-x86_64") for d in devices}
        with srv.api as c:
            c.put("/api/v1/groups/bench", json={"name": "bench", "devices": devices})
            c.put("/api/v1/capture/groups/bench", json={"enabled": True})
            c.put(
                "/api/v1/policies/bench",
                json={
                    "model": "digits",
                    "group": "bench",
                    "spec": str(work / "digits.toml"),
                    "labels": "devices",
                    "capture": {"count": count, "trigger": "drift"},
                    "retrain": {"mode": "local", "margin": 0.01},
                },
            ).raise_for_status()
            t0 = time.perf_counter()
            run_id = c.post("/api/v1/policies/bench/trigger", json={"devices": devices}).json()["id"]
        d = load_digits()
        inp = champ.manifest["input"]
        drifted = np.clip(np.round((16.0 - d.images) / 16.0 / inp["scale"]) + inp["zero_point"], -128, 127)
        drifted = drifted.astype(np.int8).reshape(-1, 8, 8, 1)
        blob = champ.artifact("model.tflite")
        baseline = np.asarray(champ.manifest["drift_baseline"]["input"]["hist"], np.float64).sum(axis=0)
        rng = np.random.default_rng(0)
        for dev, cred in creds.items():
            idx = rng.permutation(len(d.target))[:300]
            client = CaptureClient(srv.url, dev, cred["secret"])
            capture_from_source(
                client,
                [(drifted[i], int(d.target[i])) for i in idx],
                lambda q: tflm_run(blob, q[None])[0],
                baseline,
            )
            client.close()
        result = _tick_until(srv, run_id, {"rolling_out", "done", "failed"})
        seconds = time.perf_counter() - t0
        events = {e["kind"]: e for e in result["events"]}
        with srv.api as c:
            req = c.get(f"/api/v1/capture/requests/{result['data']['capture_request']}").json()
            challenger = None
            if "challenger_published" in events:
                v = events["challenger_published"]["data"]["version"]
                sha = c.get(f"/api/v1/models/digits/{v}").json()["sha256"]
                challenger = read_package(c.get(f"/api/v1/artifacts/{sha}").content, keys)
    xf = ((drifted.astype(np.float64) - inp["zero_point"]) * inp["scale"]).astype(np.float32)
    y = d.target.astype(np.int64)
    before = score_model(blob, xf, y, 10).accuracy
    after = (
        score_model(challenger.artifact("model.tflite"), xf, y, 10).accuracy if challenger else float("nan")
    )
    steps = [(e["kind"], e["ts"] - result["events"][0]["ts"]) for e in result["events"]]
    t = Table(title=f"continuous-training loop, digits, {n_dev} devices × {count} samples (drift trigger)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("outcome", result["status"])
    t.add_row("champion build (30 epochs)", f"{t_build:.1f} s")
    t.add_row("alert → canary rollout of the retrained model", f"{seconds:.1f} s")
    for kind, at in steps:
        t.add_row(f"  {kind}", f"+{at:.1f} s")
    t.add_row("bytes per captured sample (record)", str(record_bytes(64, 10)))
    t.add_row(
        "bytes per captured sample (measured, with batch header)",
        f"{req['bytes_received'] / max(req['samples_received'], 1):.1f}",
    )
    t.add_row("samples captured", str(req["samples_received"]))
    t.add_row("accuracy on drifted digits, champion 1.0.0", f"{before:.4f}")
    t.add_row("accuracy on drifted digits, retrained", f"{after:.4f}")
    Console().print(t)


if __name__ == "__main__":
    run()
