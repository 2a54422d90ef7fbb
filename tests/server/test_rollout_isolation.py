"""Defect 4 of issue 11, scheduler side: a rollout whose target vanished under it (its group deleted
behind the API's back) fails alone; the other rollouts still step (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from testkit.server import make_package
from tinyfleet.server.db import Group, GroupMember
from tinyfleet.server.runtime import Runtime
from tinyfleet.server.scheduler.loop import Scheduler, SchedulerConfig

OCTETS = {"content-type": "application/octet-stream"}


def test_a_broken_rollout_does_not_stall_the_others(
    client: TestClient, runtime: Runtime, fleet_keys: Path
) -> None:
    for name in ("kws", "vib"):
        pkg = make_package(fleet_keys, name, "1.0.0", 1, boards=("rpi4",))
        assert client.post("/api/v1/models", content=pkg, headers=OCTETS).status_code == 201
    for i in range(4):
        body = {"id": f"iso{i}", "board": "rpi4", "tags": {"fleet": "a" if i < 2 else "b"}}
        assert client.post("/api/v1/devices", json=body).status_code == 201
    assert (
        client.put("/api/v1/groups/doomed", json={"name": "doomed", "devices": ["iso0", "iso1"]}).status_code
        == 200
    )
    stages = [{"name": "all", "percent": 100}]
    bad = client.post(
        "/api/v1/rollouts",
        json={"model": "kws", "version": "1.0.0", "target": {"group": "doomed"}, "stages": stages},
    ).json()["id"]
    with runtime.db.session() as s:  # the group goes behind the API's back (the API refuses: 409)
        s.query(GroupMember).filter(GroupMember.group_name == "doomed").delete()
        s.query(Group).filter(Group.name == "doomed").delete()
    good = client.post(
        "/api/v1/rollouts",
        json={"model": "vib", "version": "1.0.0", "target": {"selector": {"fleet": "b"}}, "stages": stages},
    ).json()["id"]
    sched = Scheduler(runtime.db, runtime.bus, SchedulerConfig(0.1, "test", "http://x", 15.0))
    for _ in range(5):
        sched.run_once()
    assert client.get(f"/api/v1/rollouts/{good}").json()["status"] != "created"
    devices = client.get(f"/api/v1/rollouts/{good}/devices").json()
    assert sorted(d["device_id"] for d in devices) == ["iso2", "iso3"]
    assert client.get(f"/api/v1/rollouts/{bad}").status_code == 200  # still readable, its fault recorded
