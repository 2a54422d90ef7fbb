"""REST API: tokens and roles, enrollment, devices, groups (in-process app, SQLite and PostgreSQL)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tinyfleet.server.broker.conf import verify_secret
from tinyfleet.server.db import Device
from tinyfleet.server.runtime import Runtime


def _token(client: TestClient, role: str) -> str:
    r = client.post("/api/v1/tokens", json={"name": f"{role}-1", "role": role})
    assert r.status_code == 201
    return str(r.json()["token"])


def test_roles_gate_the_routes(client: TestClient) -> None:
    viewer, operator = _token(client, "viewer"), _token(client, "operator")
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    as_operator = {"Authorization": f"Bearer {operator}"}
    assert client.get("/api/v1/devices", headers={"Authorization": ""}).status_code == 401
    assert client.get("/api/v1/devices", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/v1/devices", headers=as_viewer).status_code == 200
    r = client.post("/api/v1/devices", json={"id": "d1", "board": "rpi4"}, headers=as_viewer)
    assert r.status_code == 403 and "operator" in r.json()["detail"]
    assert (
        client.post("/api/v1/devices", json={"id": "d1", "board": "rpi4"}, headers=as_operator).status_code
        == 201
    )
    assert (
        client.post("/api/v1/tokens", json={"name": "x", "role": "admin"}, headers=as_operator).status_code
        == 403
    )
    tokens = client.get("/api/v1/tokens").json()
    viewer_id = next(t["id"] for t in tokens if t["name"] == "viewer-1")
    assert all(t["token"] is None for t in tokens)
    assert client.delete(f"/api/v1/tokens/{viewer_id}").status_code == 204
    assert client.get("/api/v1/devices", headers=as_viewer).status_code == 401


def test_enroll_gives_credentials_stored_as_hash(client: TestClient, runtime: Runtime) -> None:
    r = client.post("/api/v1/devices", json={"id": "edge-7", "board": "rpi4", "tags": {"site": "lab"}})
    assert r.status_code == 201
    creds = r.json()
    assert creds["device_id"] == "edge-7" and creds["mqtt"]["username"] == "edge-7"
    assert creds["mqtt"]["topic_prefix"] == "tf/v1/d/edge-7"
    with runtime.db.session() as s:
        dev = s.get(Device, "edge-7")
        assert dev is not None and creds["secret"] not in dev.secret_hash
        assert verify_secret(dev.secret_hash, creds["secret"])
    assert client.post("/api/v1/devices", json={"id": "edge-7", "board": "rpi4"}).status_code == 409
    assert client.post("/api/v1/devices", json={"id": "Bad/Id", "board": "rpi4"}).status_code == 422
    r = client.post("/api/v1/devices", json={"id": "x1", "board": "no-such-board"})
    assert r.status_code == 422 and "unknown board" in r.json()["detail"]


def test_enrollment_token_is_single_use(client: TestClient) -> None:
    tok = client.post("/api/v1/enrollment-tokens", json={"tags": {"ring": "beta"}, "uses": 1}).json()["token"]
    anon = {"Authorization": ""}
    r = client.post("/api/v1/enroll", json={"token": tok, "id": "self-1", "board": "rpi4"}, headers=anon)
    assert r.status_code == 201 and r.json()["secret"]
    assert client.get("/api/v1/devices/self-1").json()["tags"] == {"ring": "beta"}
    r = client.post("/api/v1/enroll", json={"token": tok, "id": "self-2", "board": "rpi4"}, headers=anon)
    assert r.status_code == 403


def test_groups_static_and_selector(client: TestClient) -> None:
    for i, site in enumerate(["a", "a", "b"]):
        client.post("/api/v1/devices", json={"id": f"g{i}", "board": "rpi4", "tags": {"site": site}})
    r = client.put("/api/v1/groups/pair", json={"name": "pair", "devices": ["g0", "g2"]})
    assert r.status_code == 200 and r.json()["devices"] == ["g0", "g2"]
    r = client.put("/api/v1/groups/site-a", json={"name": "site-a", "selector": {"site": "a"}})
    assert r.json()["devices"] == ["g0", "g1"]
    client.post("/api/v1/devices", json={"id": "g9", "board": "rpi4", "tags": {"site": "a"}})
    assert [d["id"] for d in client.get("/api/v1/devices", params={"group": "site-a"}).json()] == [
        "g0",
        "g1",
        "g9",
    ]
    assert [d["id"] for d in client.get("/api/v1/devices", params={"tag": "site=b"}).json()] == ["g2"]
    r = client.put("/api/v1/groups/bad", json={"name": "bad", "devices": ["nope"]})
    assert r.status_code == 422 and "unknown devices" in r.json()["detail"]
    r = client.put("/api/v1/groups/both", json={"name": "both", "devices": ["g0"], "selector": {"site": "a"}})
    assert r.status_code == 422


def test_openapi_and_metrics(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/v1/devices", "/api/v1/models", "/api/v1/artifacts/{sha256}", "/api/v1/rollouts"):
        assert p in paths
    assert client.get("/docs").status_code == 200
    assert "tinyfleet_mqtt_dropped_total" in client.get("/metrics").text


def test_bulk_enrollment_is_all_or_nothing(client: TestClient) -> None:
    body = {"devices": [{"id": f"b{i}", "board": "rpi4"} for i in range(50)]}
    r = client.post("/api/v1/devices/bulk", json=body)
    assert r.status_code == 201 and len({c["secret"] for c in r.json()}) == 50
    again = {"devices": [{"id": "b-new", "board": "rpi4"}, {"id": "b7", "board": "rpi4"}]}
    assert client.post("/api/v1/devices/bulk", json=again).status_code == 409
    assert client.get("/api/v1/devices/b-new").status_code == 404
