"""Model registry: publishing rules and artifact download with Range and per-device authorization."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from fastapi.testclient import TestClient

from testkit.server import make_package
from tinyfleet.server.db import Device
from tinyfleet.server.runtime import Runtime
from tinyfleet.signing import init_keys

OCTETS = {"content-type": "application/octet-stream"}


def _publish(client: TestClient, pkg: bytes) -> tuple[int, dict]:
    r = client.post("/api/v1/models", content=pkg, headers=OCTETS)
    return r.status_code, r.json()


def test_publish_verifies_and_enforces_versions(client: TestClient, fleet_keys: Path, tmp_path: Path) -> None:
    pkg = make_package(fleet_keys, "kws", "1.0.0", 5)
    code, body = _publish(client, pkg)
    assert code == 201 and body["sha256"] == hashlib.sha256(pkg).hexdigest() and body["security_counter"] == 5
    # the same version again, even rebuilt: refused
    assert _publish(client, make_package(fleet_keys, "kws", "1.0.0", 6, seed=1))[0] == 409
    # a lower security counter: refused (anti-rollback)
    code, body = _publish(client, make_package(fleet_keys, "kws", "1.1.0", 4))
    assert code == 409 and "security counter" in body["detail"]
    assert _publish(client, make_package(fleet_keys, "kws", "1.1.0", 5))[0] == 201
    # one flipped byte anywhere: refused
    bad = bytearray(make_package(fleet_keys, "kws", "1.2.0", 6))
    bad[len(bad) // 2] ^= 0x01
    code, body = _publish(client, bytes(bad))
    assert code == 422 and "refused" in body["detail"]
    # signed by a key the server does not trust
    init_keys(tmp_path / "other")
    code, body = _publish(client, make_package(tmp_path / "other", "kws", "1.3.0", 7))
    assert code == 422 and "not trusted" in body["detail"]
    assert _publish(client, b"not a zip")[0] == 422
    versions = [m["version"] for m in client.get("/api/v1/models").json()]
    assert versions == ["1.0.0", "1.1.0"]


def _basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def test_download_with_range_and_device_authorization(
    client: TestClient, runtime: Runtime, fleet_keys: Path
) -> None:
    pkg = make_package(fleet_keys, "kws", "2.0.0", 1)
    sha = _publish(client, pkg)[1]["sha256"]
    creds = client.post("/api/v1/devices", json={"id": "dl-1", "board": "rpi4"}).json()
    url = f"/api/v1/artifacts/{sha}"
    # not assigned yet: refused
    assert client.get(url, headers=_basic("dl-1", creds["secret"])).status_code == 403
    with runtime.db.session() as s:
        dev = s.get(Device, "dl-1")
        assert dev is not None
        dev.desired = {"v": 1, "deployment_id": "x", "issued_at": 0.0, "model": {"sha256": sha}}
    assert client.get(url, headers=_basic("dl-1", "wrong")).status_code == 401
    r = client.get(url, headers=_basic("dl-1", creds["secret"]))
    assert r.status_code == 200 and r.content == pkg
    r = client.get(url, headers={**_basic("dl-1", creds["secret"]), "Range": "bytes=100-"})
    assert r.status_code == 206 and r.content == pkg[100:]
    assert r.headers["content-range"] == f"bytes 100-{len(pkg) - 1}/{len(pkg)}"
    r = client.get(url, headers={**_basic("dl-1", creds["secret"]), "Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == pkg[10:20]
    r = client.get(url, headers={**_basic("dl-1", creds["secret"]), "Range": f"bytes={len(pkg) + 5}-"})
    assert r.status_code == 416
    assert client.get(url).status_code == 200  # an API token may fetch any artifact
    assert client.get(f"/api/v1/artifacts/{'0' * 64}").status_code == 404
    assert client.get(url, headers={"Authorization": ""}).status_code == 401
