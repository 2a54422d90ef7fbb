"""Server upload: a signed package whose manifest lacks or mistypes a field is refused (422) with
one message naming the field, and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from testkit.manifests import BROKEN_MANIFESTS, Edit, with_manifest
from testkit.server import make_package
from tinyfleet.signing import load_signing_key

OCTETS = {"content-type": "application/octet-stream"}
CASES = BROKEN_MANIFESTS[::3]


@pytest.mark.parametrize("field, edit", CASES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CASES)])
def test_upload_names_the_field(client: TestClient, fleet_keys: Path, field: str, edit: Edit) -> None:
    raw = with_manifest(
        make_package(fleet_keys), edit, load_signing_key(fleet_keys / "tinyfleet-signing.key")
    )
    r = client.post("/api/v1/models", content=raw, headers=OCTETS)
    assert r.status_code == 422
    assert f"manifest: {field}" in r.json()["detail"]
    assert client.get("/api/v1/models").json() == []
