"""Defect 4 of issue 11 (API side): a rollout must name a target that exists, a group used by an
active rollout cannot be deleted, and rollout names are bounded (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from testkit.server import make_package

OCTETS = {"content-type": "application/octet-stream"}
STAGES = [{"name": "all", "percent": 100}]


def _setup(client: TestClient, keys: Path) -> None:
    pkg = make_package(keys, "kws", "1.0.0", 1, boards=("rpi4",))
    assert client.post("/api/v1/models", content=pkg, headers=OCTETS).status_code == 201
    for i in range(3):
        body = {"id": f"r{i}", "board": "rpi4", "tags": {"fleet": "x"}}
        assert client.post("/api/v1/devices", json=body).status_code == 201
    assert (
        client.put("/api/v1/groups/fleet", json={"name": "fleet", "selector": {"fleet": "x"}}).status_code
        == 200
    )


def _rollout(client: TestClient, **over: object) -> tuple[int, dict[str, object]]:
    body = {"model": "kws", "version": "1.0.0", "target": {"group": "fleet"}, "stages": STAGES, **over}
    r = client.post("/api/v1/rollouts", json=body)
    return r.status_code, r.json()


def test_rollout_to_a_missing_group_is_refused(client: TestClient, fleet_keys: Path) -> None:
    _setup(client, fleet_keys)
    code, body = _rollout(client, target={"group": "nope"})
    assert code == 422 and "nope" in str(body["detail"])
    code, body = _rollout(client, target={})
    assert code == 422 and "target" in str(body["detail"])
    assert client.get("/api/v1/rollouts").json() == []  # nothing half-created


def test_group_of_an_active_rollout_cannot_be_deleted(client: TestClient, fleet_keys: Path) -> None:
    _setup(client, fleet_keys)
    code, body = _rollout(client)
    assert code == 201
    r = client.delete("/api/v1/groups/fleet")
    assert r.status_code == 409 and str(body["id"]) in r.json()["detail"]
    assert client.post(f"/api/v1/rollouts/{body['id']}/abort", json={"reason": "t"}).status_code == 200
    # once no active rollout uses it any more, the group can go
    assert client.put("/api/v1/groups/spare", json={"name": "spare", "devices": ["r0"]}).status_code == 200
    assert client.delete("/api/v1/groups/spare").status_code == 204


def test_rollout_names_are_bounded(client: TestClient, fleet_keys: Path) -> None:
    _setup(client, fleet_keys)
    code, _ = _rollout(client, name="n" * 65)
    assert code == 422
    code, body = _rollout(client, name="n" * 64)
    assert code == 201 and body["name"] == "n" * 64
