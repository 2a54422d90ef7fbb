"""Fixtures of the server tests: an in-process app (no MQTT) on SQLite or PostgreSQL, and the
subprocess fixtures from ``testkit.server``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from testkit.server import fleet_keys, fleet_server_proc, postgres_url  # noqa: F401  (fixtures)
from tinyfleet.server.api import create_app
from tinyfleet.server.config import Settings
from tinyfleet.server.runtime import Runtime

ADMIN = "tf_admin_for_tests"
sys.path.insert(0, str(Path(__file__).parent))  # tests_server_helpers


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fleet.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def runtime(tmp_path: Path, fleet_keys: Path, database_url: str) -> Iterator[Runtime]:  # noqa: F811
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_token=ADMIN,
        trusted_keys=(fleet_keys / "tinyfleet-signing.pub",),
        port=18999,
    )
    rt = Runtime(settings, mqtt=False)
    yield rt
    rt.db.dispose()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, start=False), headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        yield c
