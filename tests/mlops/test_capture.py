"""Capture from the fleet: requests, budgets, hostile uploads, dataset versions (real app, SQLite,
artifact store; devices upload over HTTP with their own credentials)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from testkit.server import make_package
from tinyfleet.agent.capture import Selector
from tinyfleet.capture import (
    BATCH_HEADER,
    CaptureFormatError,
    dataset_version,
    decode_batch,
    encode_batch,
    read_dataset,
    record_bytes,
    write_dataset,
)
from tinyfleet.signing import init_keys

ADMIN = "tf_admin_capture"
REC = record_bytes(4, 3)  # the test package: 4 int8 inputs, 3 int8 outputs


@dataclass
class Fleet:
    api: TestClient
    secrets: dict[str, str]

    def dev(self, device_id: str) -> dict[str, str]:
        import base64

        raw = f"{device_id}:{self.secrets[device_id]}".encode()
        return {"Authorization": f"Basic {base64.b64encode(raw).decode()}"}

    def upload(self, request_id: int, device_id: str, body: bytes) -> object:
        headers = {**self.dev(device_id), "content-type": "application/octet-stream"}
        return self.api.post(f"/api/v1/capture/requests/{request_id}/samples", content=body, headers=headers)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    from tinyfleet.server.api import create_app
    from tinyfleet.server.config import Settings
    from tinyfleet.server.runtime import Runtime

    keys = tmp_path / "keys"
    init_keys(keys)
    settings = Settings(
        data_dir=tmp_path / "data", admin_token=ADMIN, trusted_keys=(keys / "tinyfleet-signing.pub",)
    )
    rt = Runtime(settings, mqtt=False)
    try:
        with TestClient(create_app(rt, start=False), headers={"Authorization": f"Bearer {ADMIN}"}) as c:
            secrets = {}
            for d in ("d1", "d2", "d3"):
                r = c.post("/api/v1/devices", json={"id": d, "board": "linux-x86_64", "tags": {}})
                assert r.status_code == 201, r.text
                secrets[d] = r.json()["secret"]
            assert (
                c.put("/api/v1/groups/field", json={"name": "field", "devices": ["d1", "d2"]}).status_code
                == 200
            )
            pkg = make_package(keys, "tiny", "1.0.0", 1)
            r = c.post("/api/v1/models", content=pkg, headers={"content-type": "application/octet-stream"})
            assert r.status_code == 201, r.text
            yield Fleet(c, secrets)
    finally:
        rt.db.dispose()


def _batch(n: int, seed: int = 0, labels: list[int] | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    return encode_batch(
        rng.integers(-128, 128, (n, 4), dtype=np.int8),
        rng.integers(-128, 128, (n, 3), dtype=np.int8),
        None if labels is None else np.asarray(labels, np.int16),
    )


def test_capture_is_off_until_a_group_enables_it(fleet: Fleet) -> None:
    c = fleet.api
    r = c.post("/api/v1/capture/requests", json={"model": "tiny", "devices": ["d1"], "count": 4})
    assert r.status_code == 403 and "capture is off for device(s) d1" in r.json()["detail"]
    assert c.put("/api/v1/capture/groups/field", json={"enabled": True}).status_code == 200
    r = c.post("/api/v1/capture/requests", json={"model": "tiny", "devices": ["d1", "d3"], "count": 4})
    assert r.status_code == 403 and "d3" in r.json()["detail"] and "d1" not in r.json()["detail"]
    assert c.get("/api/v1/capture/pending", headers=fleet.dev("d3")).json() == []


def test_request_beyond_the_byte_budget_is_refused(fleet: Fleet) -> None:
    c = fleet.api
    c.put("/api/v1/capture/groups/field", json={"enabled": True})
    need = BATCH_HEADER.size + 10 * REC
    r = c.post(
        "/api/v1/capture/requests",
        json={"model": "tiny", "group": "field", "count": 10, "per_device_bytes": need - 1},
    )
    assert r.status_code == 413
    assert r.json()["detail"].startswith("capture request beyond the byte budget: 10 samples")
    r = c.post(
        "/api/v1/capture/requests",
        json={"model": "tiny", "group": "field", "count": 10, "total_bytes": 10**12},
    )
    assert r.status_code == 413
    assert c.get("/api/v1/capture/requests").json() == []  # nothing half-made


def test_devices_upload_within_budgets_and_close_into_a_dataset(fleet: Fleet) -> None:
    c = fleet.api
    c.put("/api/v1/capture/groups/field", json={"enabled": True})
    r = c.post("/api/v1/capture/requests", json={"model": "tiny", "group": "field", "count": 5})
    assert r.status_code == 201, r.text
    req = r.json()
    assert req["per_device_bytes"] == BATCH_HEADER.size + 5 * REC and req["devices"] == ["d1", "d2"]
    pend = c.get("/api/v1/capture/pending", headers=fleet.dev("d1")).json()
    assert [p["id"] for p in pend] == [req["id"]] and pend[0]["input_bytes"] == 4 and pend[0]["count"] == 5
    # d1 sends 3, then 2 (its budget is exactly 5 samples in one batch, so two batches do not fit)
    assert fleet.upload(req["id"], "d1", _batch(3, 1, [0, 1, 2])).status_code == 201
    r = fleet.upload(req["id"], "d1", _batch(2, 2))
    assert r.status_code == 413 and "remaining budget" in r.json()["detail"]
    assert fleet.upload(req["id"], "d2", _batch(5, 3)).status_code == 201
    r = fleet.upload(req["id"], "d2", _batch(1, 4))
    assert r.status_code == 409  # d2 has sent all it was asked for
    assert c.get("/api/v1/capture/pending", headers=fleet.dev("d2")).json() == []
    # a device outside the request cannot upload into it
    assert fleet.upload(req["id"], "d3", _batch(1, 5)).status_code == 404
    state = c.get(f"/api/v1/capture/requests/{req['id']}").json()
    assert state["samples_received"] == 8 and state["bytes_received"] == 2 * BATCH_HEADER.size + 8 * REC
    ds = c.post(f"/api/v1/capture/requests/{req['id']}/close").json()
    assert ds["samples"] == 8 and ds["labelled"] == 3 and ds["source"] == f"capture:{req['id']}"
    blob = c.get(f"/api/v1/datasets/{ds['version']}/data").content
    assert dataset_version(blob) == ds["version"]
    arrays = read_dataset(blob)
    assert arrays["x"].shape == (8, 4) and list(arrays["y"][:3]) == [0, 1, 2] and set(arrays["y"][3:]) == {-1}
    assert list(arrays["device"]) == ["d1"] * 3 + ["d2"] * 5
    assert str(arrays["model"]) == "tiny@1.0.0" and list(arrays["labels"]) == ["a", "b", "c"]
    assert fleet.upload(req["id"], "d1", _batch(1, 6)).status_code == 409  # closed


def test_hostile_uploads_cost_only_the_sender(fleet: Fleet) -> None:
    c = fleet.api
    c.put("/api/v1/capture/groups/field", json={"enabled": True})
    req = c.post("/api/v1/capture/requests", json={"model": "tiny", "group": "field", "count": 4}).json()
    good = _batch(4, 9)
    bad = [
        b"",
        b"XXXX" + good[4:],  # magic
        good[:-1],  # truncated
        good + b"\0",  # trailing byte
        encode_batch(np.zeros((4, 5), np.int8), np.zeros((4, 3), np.int8)),  # wrong input size
        _batch(4, 9, [0, 1, 2, 3]),  # label 3 of a 3-class model
        _batch(4, 9, [0, -2, 0, 0]),  # label below -1
        b"\0" * 10_000,  # beyond the device's budget
    ]
    for body in bad:
        r = fleet.upload(req["id"], "d1", body)
        assert r.status_code in (413, 422), (r.status_code, r.text)
    # none of that was kept or counted, and d2 can still send its whole share
    state = c.get(f"/api/v1/capture/requests/{req['id']}").json()
    assert state["bytes_received"] == 0 and state["samples_received"] == 0
    assert fleet.upload(req["id"], "d2", good).status_code == 201
    assert fleet.upload(req["id"], "d1", good).status_code == 201
    # wrong secret: not a device at all
    r = c.post(
        f"/api/v1/capture/requests/{req['id']}/samples",
        content=good,
        headers={"Authorization": "Basic ZDE6bm9wZQ==", "content-type": "application/octet-stream"},
    )
    assert r.status_code == 401


def test_fleet_budget_caps_all_devices(fleet: Fleet) -> None:
    c = fleet.api
    c.put("/api/v1/capture/groups/field", json={"enabled": True})
    one = BATCH_HEADER.size + 4 * REC
    req = c.post(
        "/api/v1/capture/requests", json={"model": "tiny", "group": "field", "count": 4, "total_bytes": one}
    ).json()
    assert fleet.upload(req["id"], "d1", _batch(4, 1)).status_code == 201
    r = fleet.upload(req["id"], "d2", _batch(4, 2))
    assert r.status_code == 413 and "fleet byte budget" in r.json()["detail"]


def test_import_with_labels_and_unknown_version(fleet: Fleet) -> None:
    c = fleet.api
    c.put("/api/v1/capture/groups/field", json={"enabled": True})
    req = c.post("/api/v1/capture/requests", json={"model": "tiny", "devices": ["d1"], "count": 4}).json()
    fleet.upload(req["id"], "d1", _batch(4, 7))
    ds = c.post(f"/api/v1/capture/requests/{req['id']}/close").json()
    arrays = read_dataset(c.get(f"/api/v1/datasets/{ds['version']}/data").content)
    buf = io.BytesIO()
    np.savez(buf, x=arrays["x"], y=np.asarray([2, 1, 0, 2]))
    r = c.post("/api/v1/datasets", params={"parent": ds["version"]}, content=buf.getvalue())
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["labelled"] == 4 and new["parent"] == ds["version"] and new["model"] == "tiny@1.0.0"
    again = c.post("/api/v1/datasets", params={"parent": ds["version"]}, content=buf.getvalue()).json()
    assert again["version"] == new["version"]  # content-addressed
    r = c.post("/api/v1/datasets", params={"parent": "0" * 64}, content=buf.getvalue())
    assert r.status_code == 404 and r.json()["detail"] == f"unknown dataset version {'0' * 64}"
    other = io.BytesIO()
    np.savez(other, x=arrays["x"][::-1].copy(), y=np.asarray([2, 1, 0, 2]))
    r = c.post("/api/v1/datasets", params={"parent": ds["version"]}, content=other.getvalue())
    assert r.status_code == 422 and "labels only may change" in r.json()["detail"]
    assert c.get(f"/api/v1/datasets/{'1' * 64}").status_code == 404
    assert len(c.get("/api/v1/datasets").json()) == 2


def test_batch_format_round_trip_and_refusals() -> None:
    x = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    o = np.arange(9, dtype=np.int8).reshape(3, 3)
    b = decode_batch(encode_batch(x, o, np.asarray([0, -1, 2], np.int16)), 4, 3, 10)
    assert np.array_equal(b.inputs, x) and np.array_equal(b.outputs, o) and list(b.labels) == [0, -1, 2]
    with pytest.raises(CaptureFormatError, match="1..2 allowed"):
        decode_batch(encode_batch(x, o), 4, 3, 2)
    blob = write_dataset(
        x, o, np.asarray([0, -1, 2]), np.asarray(["a", "b", "c"]), 0.5, 0, "m@1.0.0", ["p", "q", "r"]
    )
    assert blob == write_dataset(
        x, o, np.asarray([0, -1, 2]), np.asarray(["a", "b", "c"]), 0.5, 0, "m@1.0.0", ["p", "q", "r"]
    )


def test_selectors() -> None:
    rng = np.random.default_rng(0)
    xs = rng.integers(-128, 128, (400, 4), dtype=np.int8)
    # random: every sample equally likely (reservoir); the kept share of the first half is ~1/2
    firsts = []
    for seed in range(200):
        sel = Selector("random", 20, seed=seed)
        for i, x in enumerate(xs):
            sel.offer(x, np.zeros(3, np.int8), i)
        kept = read_labels(sel.batch())
        firsts.append(np.mean(kept < 200))
    assert abs(np.mean(firsts) - 0.5) < 0.03
    # low confidence: only top outputs below the threshold
    sel = Selector("low_confidence", 5, confidence_below=0)
    for i in range(50):
        sel.offer(xs[i], np.asarray([i - 25, -128, -128], np.int8), i)
    assert list(read_labels(sel.batch())) == [0, 1, 2, 3, 4]
    # drift: baseline spread over all bins; the device sees mostly high inputs; the kept ones are high
    sel = Selector("drift", 10, baseline=np.full(16, 100.0))
    for i in range(300):
        hi = i % 3 != 0
        x = rng.integers(64 if hi else -128, 128 if hi else 64, 4).astype(np.int8)
        sel.offer(x, np.zeros(3, np.int8), int(hi))
    assert np.mean(read_labels(sel.batch())) > 0.9


def read_labels(batch: bytes) -> np.ndarray:
    n = BATCH_HEADER.unpack_from(batch)[2]
    return decode_batch(batch, 4, 3, n).labels.astype(int)
