"""The scheduler's incremental snapshot (re-reads only devices whose state or events changed, and
assignments that changed) always equals a full read, step after step of a real rollout; and a step
that fails is not remembered, so the next one reads everything again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from test_scheduler import _create, _report_all, _setup

from tinyfleet.server.db import Device, Rollout
from tinyfleet.server.runtime import Runtime
from tinyfleet.server.scheduler import handler, snapshot
from tinyfleet.server.scheduler.handler import load_state, step_rollout
from tinyfleet.server.scheduler.snapshot import build_snapshot, remember, step_snapshot


def _compare(rt: Runtime, rid: int, key: tuple[str, int]) -> frozenset[str] | None:
    with rt.db.session() as s:
        row = s.get(Rollout, rid)
        assert row is not None
        state = load_state(s, rid)
        inc, entry = step_snapshot(s, row, state, time.time(), cache_key=key)
        full = build_snapshot(s, row, state, time.time())
        assert inc.target == full.target
        diff = {d: (v, full.devices.get(d)) for d, v in inc.devices.items() if full.devices.get(d) != v}
        assert not diff and set(inc.devices) == set(full.devices), [
            (d, f, getattr(a, f), getattr(b, f))
            for d, (a, b) in sorted(diff.items())[:3]
            for f in a.__dataclass_fields__
            if b is None or getattr(a, f) != getattr(b, f)
        ]
        remember(key, entry)
        return inc.changed


def test_incremental_snapshot_equals_a_full_read(
    client: TestClient, runtime: Runtime, fleet_keys: Path
) -> None:
    _setup(client, fleet_keys, n=40, incompatible=3)
    _report_all(runtime.db)
    rid = _create(client, retry={"max_retries": 1, "backoff_s": 1, "max_backoff_s": 1})
    key = (f"compare {runtime.db.engine.url}", rid)
    assert _compare(runtime, rid, key) is None  # the first read is a full one
    seen_changes = False
    for i in range(30):
        _report_all(runtime.db, fail={"d05", "d17"} if i < 6 else set())
        changed = _compare(runtime, rid, key)
        seen_changes |= bool(changed)
        res = step_rollout(runtime.db, rid, "test", "http://x")
        if res.status == "succeeded":
            break
    assert res.status == "succeeded" and seen_changes
    _compare(runtime, rid, key)  # the release of every device at the end is a change
    assert _compare(runtime, rid, key) == frozenset()  # nothing changed since: nobody is read again
    # a tag edit is not a state change: it shows at the next full read (FULL_EVERY_S)
    with runtime.db.session() as s:
        s.execute(update(Device).where(Device.id == "d01").values(changed_at=time.time()))
    assert _compare(runtime, rid, key) == frozenset({"d01"})


def test_failed_step_forgets_its_snapshot(
    client: TestClient, runtime: Runtime, fleet_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(client, fleet_keys, n=10, incompatible=0)
    _report_all(runtime.db)
    rid = _create(client)
    step_rollout(runtime.db, rid, "test", "http://x")
    key = (str(runtime.db.engine.url), rid)
    assert key in snapshot._SNAPSHOTS

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("executor failed")

    monkeypatch.setattr(handler, "apply_decision", boom)
    with pytest.raises(RuntimeError):
        step_rollout(runtime.db, rid, "test", "http://x")
    assert key not in snapshot._SNAPSHOTS
