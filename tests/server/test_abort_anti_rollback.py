"""Abort with anti-rollback, end to end: a real server, its Mosquitto and simulated devices that
enforce their security counter. Devices that confirmed a release with a higher counter refuse the
rollback; the abort ends ``rolled_back_partially`` listing them, instead of hanging in ``aborting``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sim_thread import SimThread

from testkit.server import FleetServer, wait_for
from tinyfleet.cli.main import main

DEVICES = [f"ar-{i}" for i in range(4)]
TERMINAL = ("succeeded", "aborted", "rolled_back", "rolled_back_partially")


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    return wait_for(pred, timeout, what, every=0.25)


def _rollout(c: httpx.Client, version: str, stages: list[dict[str, Any]]) -> int:
    r = c.post(
        "/api/v1/rollouts",
        json={"model": "kws", "version": version, "target": {"group": "ar"}, "stages": stages},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_abort_after_counter_raise_ends_rolled_back_partially(
    fleet_server_proc: FleetServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fleet_server_proc
    srv.publish_model(srv.make_package("kws", "1.0.0", 1))
    srv.publish_model(srv.make_package("kws", "1.1.0", 2, seed=1))  # raises the anti-rollback counter
    creds = [(d, srv.add_device(d, board="rpi4", tags={"site": "ar"})["secret"]) for d in DEVICES]
    sim = SimThread(srv, creds).start()
    try:
        with srv.api as c:
            c.put("/api/v1/groups/ar", json={"name": "ar", "selector": {"site": "ar"}}).raise_for_status()
            base = _rollout(c, "1.0.0", [{"name": "all", "percent": 100}])
            st = _wait(
                lambda: (r := c.get(f"/api/v1/rollouts/{base}").json())["status"] in TERMINAL and r,
                60,
                "the 1.0.0 rollout",
            )
            assert st["status"] == "succeeded", st
            canary = DEVICES[:2]
            rid = _rollout(
                c,
                "1.1.0",
                [
                    {"name": "canary", "devices": canary},
                    {"name": "rest", "percent": 100, "manual_approval": True},
                ],
            )
            _wait(
                lambda: c.get(f"/api/v1/rollouts/{rid}").json()["status"] == "waiting_approval",
                60,
                "the canary to confirm 1.1.0",
            )
            for d in canary:  # confirming raised their stored counter to 2
                assert c.get(f"/api/v1/devices/{d}").json()["model"]["version"] == "1.1.0"
            r = c.post(f"/api/v1/rollouts/{rid}/abort", json={"reason": "bad canary figures"})
            assert r.status_code == 200, r.text
            final = _wait(
                lambda: (r := c.get(f"/api/v1/rollouts/{rid}").json())["status"] in TERMINAL and r,
                60,
                "the abort to end",
            )
            assert final["status"] == "rolled_back_partially", final
            assert final["rollback_refused"] == canary
            assert final["devices"]["rollback_refused"] == 2
            assert "bad canary figures" in final["reason"] and "anti-rollback" in final["reason"]
            rows = {a["device_id"]: a["status"] for a in c.get(f"/api/v1/rollouts/{rid}/devices").json()}
            assert rows == dict.fromkeys(canary, "rollback_refused")
            for d in canary:  # they keep the new release and are free for the next rollout
                dev = c.get(f"/api/v1/devices/{d}").json()
                assert dev["model"]["version"] == "1.1.0"
                assert dev.get("rollout_id") is None
            kinds = [e["kind"] for e in c.get(f"/api/v1/rollouts/{rid}/events").json()]
            assert "rollback_refused" in kinds
            active = [r["id"] for r in c.get("/api/v1/rollouts", params={"active": "true"}).json()]
            assert rid not in active and base not in active
        for k, v in srv.cli_env.items():  # the CLI says it too
            monkeypatch.setenv(k, v)
        capsys.readouterr()
        assert main(["rollout", "status", str(rid)]) == 0
        out = capsys.readouterr().out
        assert f"refused the rollback (anti-rollback; they keep kws@1.1.0): {', '.join(canary)}" in out
    finally:
        sim.stop()
