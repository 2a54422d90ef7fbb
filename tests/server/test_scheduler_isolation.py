"""Per-rollout fault isolation: a rollout whose step fails (its group deleted under it, or any
exception) gets the fault recorded on it, once per distinct message, and every other rollout goes on."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from test_scheduler import _report_all, _setup

from tinyfleet.server.db import Group, RolloutEvent
from tinyfleet.server.runtime import Runtime
from tinyfleet.server.scheduler import handler

STAGES = [{"name": "half", "percent": 50}, {"name": "all", "percent": 100}]
GROUPS = {"a": [f"d{i:02d}" for i in range(8)], "b": [f"d{i:02d}" for i in range(8, 16)]}


def _two_rollouts(client: TestClient, keys: Path) -> tuple[int, int]:
    _setup(client, keys)
    ids = []
    for name, members in GROUPS.items():
        r = client.put(f"/api/v1/groups/{name}", json={"name": name, "devices": members})
        assert r.status_code in (200, 201), r.text
        r = client.post(
            "/api/v1/rollouts",
            json={"model": "kws", "version": "2.0.0", "target": {"group": name}, "stages": STAGES},
        )
        assert r.status_code == 201, r.text
        ids.append(int(r.json()["id"]))
    return ids[0], ids[1]


def _kinds(rt: Runtime, rid: int) -> list[str]:
    with rt.db.session() as s:
        q = select(RolloutEvent.kind).where(RolloutEvent.rollout_id == rid).order_by(RolloutEvent.seq)
        return list(s.scalars(q))


def _rounds(rt: Runtime, n: int) -> None:
    sched = rt.build_scheduler()
    for _ in range(n):
        _report_all(rt.db)
        sched.run_once()


def test_rollout_whose_group_was_deleted_does_not_stop_the_others(
    client: TestClient, runtime: Runtime, fleet_keys: Path
) -> None:
    bad, good = _two_rollouts(client, fleet_keys)
    with runtime.db.session() as s:  # deleted under the rollout (straight in the database: no API check)
        s.execute(delete(Group).where(Group.name == "a"))
    _rounds(runtime, 12)
    assert client.get(f"/api/v1/rollouts/{good}").json()["status"] == "succeeded"
    st = client.get(f"/api/v1/rollouts/{bad}").json()
    assert st["status"] == "created" and st["error"] == "no group named 'a'"
    assert _kinds(runtime, bad).count("fault") == 1  # a fault that repeats every round is stored once
    # the group comes back: the rollout recovers, the error clears, and it finishes
    assert client.put("/api/v1/groups/a", json={"name": "a", "devices": GROUPS["a"]}).status_code in (
        200,
        201,
    )
    _rounds(runtime, 12)
    st = client.get(f"/api/v1/rollouts/{bad}").json()
    assert st["status"] == "succeeded" and st["error"] == ""
    kinds = _kinds(runtime, bad)
    assert kinds.index("fault") < kinds.index("recovered")


def test_any_exception_in_one_step_is_recorded_on_that_rollout(
    client: TestClient, runtime: Runtime, fleet_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad, good = _two_rollouts(client, fleet_keys)
    real = handler.step_snapshot

    def broken(s, row, state, now, **kw):  # type: ignore[no-untyped-def]
        if row.id == bad:
            raise ZeroDivisionError("division by zero in a snapshot")
        return real(s, row, state, now, **kw)

    monkeypatch.setattr(handler, "step_snapshot", broken)
    _rounds(runtime, 12)
    assert client.get(f"/api/v1/rollouts/{good}").json()["status"] == "succeeded"
    st = client.get(f"/api/v1/rollouts/{bad}").json()
    assert st["error"] == "ZeroDivisionError: division by zero in a snapshot"
    events = client.get(f"/api/v1/rollouts/{bad}/events").json()
    assert [e["reason"] for e in events if e["kind"] == "fault"] == [st["error"]]
