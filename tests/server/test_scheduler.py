"""The scheduler drives the rollout engine against the database (SQLite and PostgreSQL): stages fill,
incompatible devices are skipped, abort rolls back, and concurrent schedulers never double-assign."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from testkit.server import make_package
from tinyfleet.server.db import Assignment, Database, Device
from tinyfleet.server.runtime import Runtime
from tinyfleet.server.scheduler import step_rollout

OCTETS = {"content-type": "application/octet-stream"}
STAGES = [
    {"name": "canary", "devices": ["d00", "d01"]},
    {"name": "ten", "percent": 10},
    {"name": "half", "percent": 50},
    {"name": "all", "percent": 100},
]


def _setup(client: TestClient, keys: Path, n: int = 20, incompatible: int = 2) -> None:
    for v, counter in (("1.0.0", 1), ("2.0.0", 2)):
        assert (
            client.post(
                "/api/v1/models",
                content=make_package(keys, "kws", v, counter, boards=("rpi4",)),
                headers=OCTETS,
            ).status_code
            == 201
        )
    for i in range(n):
        board = "qemu-an386" if i >= n - incompatible else "rpi4"
        assert (
            client.post(
                "/api/v1/devices", json={"id": f"d{i:02d}", "board": board, "tags": {"fleet": "x"}}
            ).status_code
            == 201
        )
    client.put("/api/v1/groups/fleet", json={"name": "fleet", "selector": {"fleet": "x"}})


def _report_all(db: Database, *, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """What devices do: run what their desired state names, and report it in their state (a changed
    state gets ``changed_at``, as ingest sets it)."""
    with db.session() as s:
        for dev in s.scalars(select(Device)):
            before = (
                dev.model_name,
                dev.model_version,
                dev.model_sha256,
                dev.update_state,
                dev.deployment_id,
            )
            _run_desired(dev, fail)
            if (
                dev.model_name,
                dev.model_version,
                dev.model_sha256,
                dev.update_state,
                dev.deployment_id,
            ) != before:
                dev.changed_at = time.time()


def _run_desired(dev: Device, fail: set[str]) -> None:
    if dev.desired is None:
        if dev.model_version is None:
            dev.model_name, dev.model_version, dev.model_sha256, dev.update_state = (
                "kws",
                "1.0.0",
                "",
                "idle",
            )
        return
    model = dev.desired.get("model")
    dev.deployment_id = dev.desired["deployment_id"]
    if dev.id in fail:
        dev.update_state = "failed"
    elif model is not None:
        dev.model_name, dev.model_version, dev.model_sha256 = (
            model["name"],
            model["version"],
            model["sha256"],
        )
        dev.update_state = "confirmed"


def _run(rt: Runtime, rollout_id: int, rounds: int = 40, fail: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    status = ""
    for _ in range(rounds):
        _report_all(rt.db, fail=fail)
        res = step_rollout(rt.db, rollout_id, "test", "http://x")
        status = res.status or status
        if status in ("succeeded", "rolled_back", "aborted"):
            break
    return status


def _create(client: TestClient, **over: object) -> int:
    body = {"model": "kws", "version": "2.0.0", "target": {"group": "fleet"}, "stages": STAGES, **over}
    r = client.post("/api/v1/rollouts", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_four_stage_rollout_reaches_every_compatible_device(
    client: TestClient, runtime: Runtime, fleet_keys: Path
) -> None:
    _setup(client, fleet_keys)
    _report_all(runtime.db)
    rid = _create(client)
    assert _run(runtime, rid) == "succeeded"
    with runtime.db.session() as s:
        per_device = {
            d: k
            for d, k in s.execute(
                select(Assignment.device_id, func.count())
                .where(Assignment.rollout_id == rid)
                .group_by(Assignment.device_id)
            )
        }
        assert per_device == {f"d{i:02d}": 1 for i in range(18)}  # once each; incompatible never
        for d in ("d18", "d19"):
            dev = s.get(Device, d)
            assert dev is not None and dev.desired is None and dev.rollout_id is None
        assert all(d.rollout_id is None for d in s.scalars(select(Device)))  # released
    st = client.get(f"/api/v1/rollouts/{rid}").json()
    assert st["status"] == "succeeded" and set(st["skipped"]) == {"d18", "d19"}
    kinds = [e["kind"] for e in client.get(f"/api/v1/rollouts/{rid}/events").json()]
    assert kinds[0] == "created" and "assigned" in kinds and kinds.count("transition") >= 5


def test_abort_rolls_every_touched_device_back(
    client: TestClient, runtime: Runtime, fleet_keys: Path
) -> None:
    _setup(client, fleet_keys, n=10, incompatible=0)
    _report_all(runtime.db)
    rid = _create(
        client,
        stages=[
            {"name": "canary", "devices": ["d00", "d01"]},
            {"name": "all", "percent": 100, "manual_approval": True},
        ],
    )
    for _ in range(5):
        _report_all(runtime.db)
        step_rollout(runtime.db, rid, "test", "http://x")
    assert client.get(f"/api/v1/rollouts/{rid}").json()["status"] == "waiting_approval"
    assert client.post(f"/api/v1/rollouts/{rid}/resume").status_code == 409  # not paused
    r = client.post(f"/api/v1/rollouts/{rid}/abort", json={"reason": "test"})
    assert r.status_code == 200 and r.json()["status"] == "aborting"
    with runtime.db.session() as s:
        for d in ("d00", "d01"):
            dev = s.get(Device, d)
            assert dev is not None and dev.desired["model"]["version"] == "1.0.0"
    assert _run(runtime, rid) == "rolled_back"


def test_error_threshold_aborts_and_rolls_back(
    client: TestClient, runtime: Runtime, fleet_keys: Path
) -> None:
    _setup(client, fleet_keys, n=6, incompatible=0)
    _report_all(runtime.db)
    rid = _create(
        client,
        stages=[
            {"name": "canary", "devices": ["d00", "d01"], "error": {"max_failed": 0}},
            {"name": "all", "percent": 100},
        ],
    )
    assert _run(runtime, rid, fail={"d01"}) == "rolled_back"
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Assignment).where(Assignment.rollout_id == rid)) == 2


def test_concurrent_schedulers_never_double_assign(
    client: TestClient, runtime: Runtime, fleet_keys: Path
) -> None:
    _setup(client, fleet_keys, n=30, incompatible=0)
    _report_all(runtime.db)
    rid = _create(
        client,
        stages=[{"name": "a", "count": 5}, {"name": "b", "percent": 50}, {"name": "c", "percent": 100}],
    )
    dbs = [Database(runtime.db.url) for _ in range(3)]
    errors: list[BaseException] = []

    def worker(db: Database, me: str) -> None:
        for _ in range(8):
            try:
                step_rollout(db, rid, me, "http://x")
            except Exception as exc:  # noqa: BLE001 - a lost race is allowed; a double assignment is not
                errors.append(exc)

    for _ in range(4):
        _report_all(runtime.db)
        threads = [threading.Thread(target=worker, args=(db, f"p{i}")) for i, db in enumerate(dbs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert _run(runtime, rid) == "succeeded"
    with runtime.db.session() as s:
        counts = list(
            s.execute(
                select(func.count())
                .select_from(Assignment)
                .where(Assignment.rollout_id == rid)
                .group_by(Assignment.device_id)
            ).scalars()
        )
    assert len(counts) == 30 and set(counts) == {1}
    for db in dbs:
        db.dispose()
