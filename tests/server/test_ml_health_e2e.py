"""Issue 10's acceptance, end to end: a real server (its Mosquitto, the scheduler, the drift
detector) and the simulator's devices over MQTT, in accelerated time (a telemetry period is 0.5 s
with 50 inferences, so a few seconds hold what a device sends in minutes).

1. a candidate that is as good is promoted; one 5 accuracy points worse is stopped at the canary
   stage by the confidence gate (rolled back);
2. after healthy history no device is alerted; then 10 % of the devices drift (input PSI 0.2) and
   those devices, and only those, are alerted within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sim_thread import SimThread

from testkit.server import running_server, wait_for
from tinyfleet import manifest as mf
from tinyfleet.agent.sim.behaviour import Behaviour, picked
from tinyfleet.golden import GoldenSet
from tinyfleet.package import build_package
from tinyfleet.signing import load_signing_key

DEVICES = [f"mh-{i:02d}" for i in range(40)]
TERMINAL = ("succeeded", "aborted", "rolled_back", "rolled_back_partially")
N_BASE = 5000  # a big, honest baseline (all the validation data)


def _package(key_dir: Path, version: str, counter: int) -> bytes:
    """A signed package whose baseline holds N_BASE validation samples (random weights)."""
    rng = np.random.default_rng(7)  # the same baseline for every version: equal models
    golden = GoldenSet(
        rng.integers(-128, 128, (2, 4), dtype=np.int8), rng.integers(-128, 128, (2, 3), dtype=np.int8)
    )
    artifacts = {"model.tflite": b"TFL3" + rng.bytes(64), "golden.bin": golden.pack()}
    conf = np.zeros(16)
    conf[8:] = np.linspace(1, 4, 8)
    body = mf.ManifestBody(
        name="mh",
        version=version,
        security_counter=counter,
        boards=["rpi4"],
        input=mf.TensorSpec(shape=[1, 4], dtype="int8", scale=0.5, zero_point=0),
        output=mf.TensorSpec(shape=[1, 3], dtype="int8", scale=1 / 256, zero_point=-128),
        labels=["a", "b", "c"],
        golden=mf.Golden(count=2, tolerance={"tinyfleet-mcu": 0, "tflm": 0, "litert": 1, "onnxruntime": 2}),
        requirements=mf.Requirements(
            ops=["FULLY_CONNECTED", "SOFTMAX"],
            arena_bytes=2048,
            flash_bytes=len(artifacts["model.tflite"]) + len(artifacts["golden.bin"]),
        ),
        drift_baseline=mf.DriftBaseline(
            n=N_BASE,
            input=mf.InputHistogram(
                bins=16,
                groups=1,
                hist=[rng.multinomial(4 * N_BASE, rng.dirichlet(np.full(16, 4.0))).tolist()],
            ),
            output_classes=mf.OutputClasses(counts=rng.multinomial(N_BASE, [0.3, 0.3, 0.4]).tolist()),
            confidence=mf.ConfidenceHistogram(
                bins=16, hist=rng.multinomial(N_BASE, conf / conf.sum()).tolist()
            ),
        ),
    )
    return build_package(body, artifacts, load_signing_key(key_dir / "tinyfleet-signing.key"))


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    return wait_for(pred, timeout, what, every=0.5)


def _rollout(
    c: httpx.Client, version: str, stages: list[dict[str, Any]], health: dict[str, Any] | None
) -> dict:
    r = c.post(
        "/api/v1/rollouts",
        json={
            "model": "mh",
            "version": version,
            "target": {"group": "mh"},
            "stages": stages,
            "health": health,
        },
    )
    assert r.status_code == 201, r.text
    rid = int(r.json()["id"])
    return _wait(
        lambda: (s := c.get(f"/api/v1/rollouts/{rid}").json())["status"] in TERMINAL and s, 120, version
    )


def _alerted(c: httpx.Client) -> set[str]:
    rows = c.get("/api/v1/drift", params={"name": "mh"}).json()
    return {d["device_id"] for m in rows for d in m["per_device"] if d["alert"]}


@pytest.mark.slow
def test_canary_verdicts_and_drift_alerts_on_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYFLEET_DRIFT_INTERVAL", "2")
    flag = tmp_path / "drift-on"
    drifting = {d for d in DEVICES if picked(d, 0.1, "drift")}
    assert 1 <= len(drifting) <= 10
    with running_server() as srv:
        for version, counter in (("1.0.0", 1), ("2.0.0", 1), ("3.0.0", 1)):  # rollbacks allowed
            srv.publish_model(_package(srv.key_dir, version, counter))
        creds = [(d, srv.add_device(d, board="rpi4", tags={"site": "mh"})["secret"]) for d in DEVICES]
        behaviour = Behaviour(
            drift_fraction=0.1, drift_flag=str(flag), drift_psi=0.2, worse=(("3.0.0", 0.05),)
        )
        sim = SimThread(srv, creds, behaviour)
        sim.cfg.telemetry_s, sim.cfg.infer_hz = 0.5, 100.0
        sim.start()
        try:
            with srv.api as c:
                c.put("/api/v1/groups/mh", json={"name": "mh", "selector": {"site": "mh"}}).raise_for_status()
                assert _rollout(c, "1.0.0", [{"name": "all", "percent": 100}], None)["status"] == "succeeded"
                time.sleep(10)  # healthy history on 1.0.0 (the control cohort's)
                health = {
                    "bounds": [{"gate": "confidence_drop", "bound": 0.02, "action": "rollback"}],
                    "min_samples": 100,
                    "max_wait_s": 120,
                    "on_timeout": "hold",
                }
                stages = [{"name": "canary", "count": 5, "soak_s": 5}, {"name": "all", "percent": 100}]
                worse = _rollout(c, "3.0.0", stages, health)
                assert worse["status"] == "rolled_back", worse
                assert "confidence_drop" in worse["reason"] and "worse at every look" in worse["reason"]
                equal = _rollout(c, "2.0.0", stages, health)
                assert equal["status"] == "succeeded", equal
                _wait(
                    lambda: all(
                        c.get(f"/api/v1/devices/{d}").json()["model"]["version"] == "2.0.0" for d in DEVICES
                    ),
                    60,
                    "every device on 2.0.0",
                )
                time.sleep(20)  # healthy history on 2.0.0: ~2000 inferences a device, looks every 2 s
                assert _alerted(c) == set()
                flag.write_text("on\n")
                start = time.monotonic()
                _wait(lambda: _alerted(c) == drifting, 60, f"alerts on exactly {sorted(drifting)}")
                took = time.monotonic() - start
                time.sleep(6)  # a few more looks: still those devices only
                assert _alerted(c) == drifting
                rows = c.get("/api/v1/drift", params={"name": "mh"}).json()
                why = [d for m in rows for d in m["per_device"] if d["alert"]]
                assert all(
                    d["alert_evidence"]["p_adjusted"] < 1e-4 and d["alert_evidence"]["psi_excess"] >= 0.1
                    for d in why
                )
                print(f"drift alerted {len(drifting)} devices {took:.1f} s after the shift")
        finally:
            sim.stop()
