"""Fixtures of the server tests: an in-process app (no MQTT) on SQLite or PostgreSQL, and the
subprocess fixtures from ``fleet_server.testing``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fleet_server.api import create_app
from fleet_server.config import Settings
from fleet_server.runtime import Runtime
from fleet_server.testing import fleet_keys, fleet_server_proc, postgres_url  # noqa: F401  (fixtures)

ADMIN = "tf_admin_for_tests"
sys.path.insert(0, str(Path(__file__).parent))  # tests_server_helpers


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fleet.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def runtime(tmp_path: Path, fleet_keys: Path, database_url: str) -> Iterator[Runtime]:  # noqa: F811
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, admin_token=ADMIN,
                        trusted_keys=(fleet_keys / "tinyfleet-signing.pub",), port=18999)
    rt = Runtime(settings, mqtt=False)
    yield rt
    rt.db.dispose()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, start=False), headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        yield c
