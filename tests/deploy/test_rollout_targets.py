"""A rollout whose target is empty or contradictory is refused with the reason (it would otherwise
soak forever with nothing to watch)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from testkit.server import fleet_keys, make_package  # noqa: F401  (fixture)
from tinyfleet.server.api import create_app
from tinyfleet.server.config import Settings
from tinyfleet.server.runtime import Runtime

ADMIN = "tf_admin_targets"


@pytest.fixture
def client(tmp_path: Path, fleet_keys: Path) -> Iterator[TestClient]:  # noqa: F811
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'fleet.db'}",
        admin_token=ADMIN,
        trusted_keys=(fleet_keys / "tinyfleet-signing.pub",),
    )
    rt = Runtime(settings, mqtt=False)
    with TestClient(create_app(rt, start=False), headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        raw = make_package(fleet_keys, "tiny", "1.0.0", 1)
        assert (
            c.post(
                "/api/v1/models", content=raw, headers={"content-type": "application/octet-stream"}
            ).status_code
            == 201
        )
        assert (
            c.post("/api/v1/devices", json={"id": "t-1", "board": "rpi4", "tags": {"site": "a"}}).status_code
            == 201
        )
        yield c
    rt.db.dispose()


def _create(client: TestClient, target: dict[str, object]) -> tuple[int, str]:
    r = client.post(
        "/api/v1/rollouts",
        json={
            "model": "tiny",
            "version": "1.0.0",
            "target": target,
            "stages": [{"name": "all", "percent": 100}],
        },
    )
    return r.status_code, r.json().get("detail", "") if r.status_code != 201 else ""


def test_empty_and_contradictory_targets_are_refused(client: TestClient) -> None:
    code, why = _create(client, {"selector": {"site": "nowhere"}})
    assert code == 422 and "selector site=nowhere matches no enrolled device" in why
    assert client.put("/api/v1/groups/empty", json={"name": "empty", "devices": []}).status_code in (200, 201)
    code, why = _create(client, {"group": "empty"})
    assert code == 422 and "group 'empty' matches no enrolled device" in why
    code, why = _create(client, {"group": "empty", "selector": {"site": "a"}})
    assert code == 422 and "not both" in why
    assert client.get("/api/v1/rollouts").json() == []
    assert _create(client, {"selector": {"site": "a"}})[0] == 201
