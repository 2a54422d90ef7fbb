"""A drift alert starts a loop iteration by itself (one per alert episode); capture off → failed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from testkit.server import make_package
from tinyfleet.server.db import DriftState
from tinyfleet.server.db.models import PolicyRun
from tinyfleet.server.policy.engine import Env, alerting_devices, tick
from tinyfleet.signing import init_keys

ADMIN = "tf_admin_policy_alerts"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Any, TestClient]]:
    from tinyfleet.server.api import create_app
    from tinyfleet.server.config import Settings
    from tinyfleet.server.runtime import Runtime

    keys = tmp_path / "keys"
    init_keys(keys)
    rt = Runtime(
        Settings(
            data_dir=tmp_path / "data", admin_token=ADMIN, trusted_keys=(keys / "tinyfleet-signing.pub",)
        ),
        mqtt=False,
    )
    try:
        with TestClient(create_app(rt, start=False), headers={"Authorization": f"Bearer {ADMIN}"}) as c:
            for d in ("a1", "a2", "a3"):
                c.post("/api/v1/devices", json={"id": d, "board": "linux-x86_64", "tags": {}})
            c.put("/api/v1/groups/g", json={"name": "g", "devices": ["a1", "a2"]})
            c.put("/api/v1/groups/off", json={"name": "off", "devices": ["a3"]})
            c.post(
                "/api/v1/models",
                content=make_package(keys, "tiny", "1.0.0", 1),
                headers={"content-type": "application/octet-stream"},
            )
            for name, group in (("p", "g"), ("q", "off")):
                r = c.put(
                    f"/api/v1/policies/{name}",
                    json={
                        "model": "tiny",
                        "group": group,
                        "retrain": {"mode": "webhook", "url": "http://127.0.0.1:9/x", "secret": "x" * 16},
                    },
                )
                assert r.status_code == 200, r.text
            c.put(
                "/api/v1/policies/q",
                json={"model": "tiny", "group": "off", "enabled": False, "spec": "s.toml"},
            )
            yield rt, c
    finally:
        rt.db.dispose()


def _alert(rt: Any, device: str, active: bool, since: float) -> None:
    with rt.db.session() as s:
        key = f"device:{device}:tiny@1.0.0"
        row = s.get(DriftState, key) or DriftState(key=key, state={}, updated_at=since)
        row.state, row.updated_at = {"active": active, "since": since, "reason": "test"}, since
        s.add(row)


def _tick(rt: Any, now: float) -> int:
    with rt.db.session() as s:
        return tick(s, Env(rt.store, rt.trusted_keys, rt.settings.data_dir / "policy", "http://x"), now)


def test_alert_starts_one_iteration_per_episode(env: tuple[Any, TestClient]) -> None:
    rt, c = env
    c.put("/api/v1/capture/groups/g", json={"enabled": True})
    now = time.time()
    assert _tick(rt, now) == 0  # no alert, nothing happens
    _alert(rt, "a1", True, now)
    _alert(rt, "a2", False, now)
    with rt.db.session() as s:
        assert alerting_devices(s, "tiny") == ["a1"]
    assert _tick(rt, now + 1) == 1
    runs = c.get("/api/v1/policies/runs").json()
    assert [r["policy"] for r in runs] == ["p"]  # q is disabled
    run = c.get(f"/api/v1/policies/runs/{runs[0]['id']}").json()
    assert [e["kind"] for e in run["events"]] == ["alert", "capture_requested"]
    assert run["events"][0]["data"]["devices"] == ["a1"] and run["events"][1]["data"]["devices"] == ["a1"]
    assert _tick(rt, now + 2) == 0  # busy: the iteration waits for samples, no second one
    # the request expires without samples: the iteration fails (an audit event says why)
    assert _tick(rt, now + 3600) == 1
    run = c.get(f"/api/v1/policies/runs/{runs[0]['id']}").json()
    assert run["status"] == "failed" and "expired without samples" in run["events"][-1]["data"]["reason"]
    # the same alert episode does not start another iteration; a new one does
    assert _tick(rt, now + 3601) == 0
    _alert(rt, "a1", True, now + 4000)
    assert _tick(rt, now + 4001) == 1
    assert len(c.get("/api/v1/policies/runs").json()) == 2


def test_capture_off_for_alerting_devices_fails_the_iteration(env: tuple[Any, TestClient]) -> None:
    rt, c = env  # capture never enabled for group g
    _alert(rt, "a2", True, time.time())
    assert _tick(rt, time.time()) == 1
    with rt.db.session() as s:
        run = s.query(PolicyRun).one()
        assert run.status == "failed"
    events = c.get(f"/api/v1/policies/runs/{run.id}").json()["events"]
    assert [e["kind"] for e in events] == ["alert", "failed"]
    assert "capture is off" in events[-1]["data"]["reason"]
    assert c.get("/api/v1/capture/requests").json() == []


def test_champion_is_what_the_devices_run(env: tuple[Any, TestClient], tmp_path: Path) -> None:
    from tinyfleet.server.db import Device
    from tinyfleet.server.policy.engine import _next_release

    rt, c = env
    keys = tmp_path / "keys"
    c.post(
        "/api/v1/models",
        content=make_package(keys, "tiny", "1.1.0", 3, seed=1),  # published later, rolled back say
        headers={"content-type": "application/octet-stream"},
    ).raise_for_status()
    with rt.db.session() as s:
        for d in ("a1", "a2"):
            dev = s.get(Device, d)
            dev.model_name, dev.model_version = "tiny", "1.0.0"
    c.put("/api/v1/capture/groups/g", json={"enabled": True})
    run = c.post("/api/v1/policies/p/trigger", json={"devices": ["a1", "a2"]}).json()
    assert run["data"]["champion"] == "tiny@1.0.0"
    req = c.get(f"/api/v1/capture/requests/{run['data']['capture_request']}").json()
    assert req["version"] == "1.0.0"
    with rt.db.session() as s:
        assert _next_release(s, "tiny") == ("1.2.0", 3)  # above every published version and counter


def test_operator_labels_are_awaited(env: tuple[Any, TestClient]) -> None:
    import base64
    import io

    import numpy as np

    from tinyfleet.capture import encode_batch, read_dataset

    rt, c = env
    c.put("/api/v1/capture/groups/g", json={"enabled": True})
    sec = c.post("/api/v1/devices", json={"id": "a9", "board": "linux-x86_64", "tags": {}}).json()["secret"]
    c.put("/api/v1/groups/g", json={"name": "g", "devices": ["a1", "a2", "a9"]})
    run = c.post("/api/v1/policies/p/trigger", json={"devices": ["a9"]}).json()  # labels = "operator"
    req = run["data"]["capture_request"]
    count = c.get(f"/api/v1/capture/requests/{req}").json()["count"]
    body = encode_batch(
        np.zeros((count, 4), np.int8), np.zeros((count, 3), np.int8), np.zeros(count, np.int16)
    )
    auth = base64.b64encode(f"a9:{sec}".encode()).decode()
    r = c.post(
        f"/api/v1/capture/requests/{req}/samples",
        content=body,
        headers={"Authorization": f"Basic {auth}", "content-type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    now = time.time()
    _tick(rt, now)
    _tick(rt, now + 1)
    state = c.get(f"/api/v1/policies/runs/{run['id']}").json()
    assert state["status"] == "labelling"  # the devices' labels are not the operator's
    arrays = read_dataset(c.get(f"/api/v1/datasets/{state['data']['dataset']}/data").content)
    buf = io.BytesIO()
    np.savez(buf, x=arrays["x"], y=np.arange(count) % 3)
    child = c.post(
        "/api/v1/datasets", params={"parent": state["data"]["dataset"]}, content=buf.getvalue()
    ).json()
    _tick(rt, now + 2)
    state = c.get(f"/api/v1/policies/runs/{run['id']}").json()
    assert state["status"] == "retraining" and state["data"]["labelled_dataset"] == child["version"]
    assert [e["kind"] for e in state["events"]][-2:] == ["labelled", "retrain_requested"]
