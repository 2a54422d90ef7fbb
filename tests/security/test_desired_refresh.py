"""The server's desired-state outbox signs each device's desired state with its online key, the
device's revision as the sequence number, and refreshes desired states before their signatures
expire (a new issued_at and revision), without overwriting a newer decision."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from tinyfleet import wire
from tinyfleet.desired import (
    DESIRED_VALIDITY_S,
    ONLINE_KEY_NAME,
    ONLINE_PUB_NAME,
    check_desired,
    parse_signed,
)
from tinyfleet.server.bus import Bus
from tinyfleet.server.db import Database, Device, migrate
from tinyfleet.server.mqtt.outbox import Outbox, load_online_key
from tinyfleet.signing import load_trusted_keys


def _desired(issued_at: float) -> dict[str, Any]:
    return wire.to_dict(wire.DesiredState(deployment_id="r1-abc", issued_at=issued_at))


def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'fleet.db'}")
    migrate(db)
    return db


def _add(db: Database, device_id: str, issued_at: float, rev: int) -> None:
    with db.session() as s:
        s.add(
            Device(
                id=device_id,
                board="rpi4",
                tags={},
                secret_hash="x",
                enrolled_at=0.0,
                desired=_desired(issued_at),
                desired_rev=rev,
                published_rev=rev,
            )
        )


def test_online_key_is_made_once_and_kept(tmp_path: Path) -> None:
    k1 = load_online_key(tmp_path)
    k2 = load_online_key(tmp_path)
    assert k1.private_bytes_raw() == k2.private_bytes_raw()
    assert (tmp_path / ONLINE_KEY_NAME).stat().st_mode & 0o777 == 0o600
    assert load_trusted_keys([tmp_path / ONLINE_PUB_NAME])  # what devices are given


def test_refresh_renews_old_desired_states_only(tmp_path: Path) -> None:
    db = _db(tmp_path)
    now = time.time()
    _add(db, "old-1", now - 0.6 * DESIRED_VALIDITY_S, 3)
    _add(db, "fresh-1", now - 0.1 * DESIRED_VALIDITY_S, 5)
    box = Outbox(db, None, Bus(), key=load_online_key(tmp_path))  # type: ignore[arg-type]  # refresh publishes nothing
    assert box.refresh(now) == 1
    with db.session() as s:
        rows = {r.id: r for r in s.scalars(select(Device))}
        assert rows["old-1"].desired_rev == 4 and rows["old-1"].published_rev == 3  # to publish again
        assert rows["old-1"].desired["issued_at"] == round(now, 3)
        assert rows["fresh-1"].desired_rev == 5
    assert box.refresh(now) == 0


def test_signed_with_the_revision_as_sequence(tmp_path: Path) -> None:
    db = _db(tmp_path)
    now = time.time()
    box = Outbox(db, None, Bus(), key=load_online_key(tmp_path))  # type: ignore[arg-type]
    raw = box._encode("dev-7", _desired(now), 42)
    inst = check_desired(
        parse_signed(raw),
        load_trusted_keys([tmp_path / ONLINE_PUB_NAME]),
        device_id="dev-7",
        last_seq=41,
        now=now,
    )
    assert inst.seq == 42 and inst.expires_at == now + DESIRED_VALIDITY_S
    # a server without an online key publishes the plain message (devices that verify refuse it)
    plain = Outbox(db, None, Bus())._encode("dev-7", _desired(now), 42)  # type: ignore[arg-type]
    assert parse_signed(plain).signed is None


def test_refresh_never_overwrites_a_newer_decision(tmp_path: Path) -> None:
    db = _db(tmp_path)
    now = time.time()
    _add(db, "race-1", now - DESIRED_VALIDITY_S, 7)
    box = Outbox(db, None, Bus(), key=load_online_key(tmp_path))  # type: ignore[arg-type]
    real_session = db.session

    def racing_session():  # type: ignore[no-untyped-def]
        # between the refresh's read and its write, the scheduler decides something new
        ctx = real_session()
        s = ctx.__enter__()
        orig = s.execute
        state = {"n": 0}

        def execute(stmt, *a, **kw):  # type: ignore[no-untyped-def]
            state["n"] += 1
            if state["n"] == 2:
                with real_session() as other:
                    other.execute(
                        update(Device)
                        .where(Device.id == "race-1")
                        .values(desired=_desired(now) | {"deployment_id": "r2-new"}, desired_rev=8)
                    )
            return orig(stmt, *a, **kw)

        s.execute = execute  # type: ignore[method-assign]

        class _Ctx:
            def __enter__(self):  # type: ignore[no-untyped-def]
                return s

            def __exit__(self, *exc):  # type: ignore[no-untyped-def]
                return ctx.__exit__(*exc)

        return _Ctx()

    db.session = racing_session  # type: ignore[method-assign]
    box.refresh(now)
    db.session = real_session  # type: ignore[method-assign]
    with db.session() as s:
        row = s.get(Device, "race-1")
        assert row is not None
        assert row.desired["deployment_id"] == "r2-new" and row.desired_rev == 8


def test_processes_starting_at_once_share_one_online_key(tmp_path: Path) -> None:
    import threading

    for round_ in range(5):
        d = tmp_path / f"r{round_}"
        d.mkdir()
        got: list[bytes] = []
        go = threading.Barrier(4)

        def start(d: Path = d, got: list[bytes] = got, go: threading.Barrier = go) -> None:
            go.wait()
            got.append(load_online_key(d).private_bytes_raw())

        threads = [threading.Thread(target=start) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 4 and len(set(got)) == 1
        assert sorted(p.name for p in d.iterdir()) == [ONLINE_KEY_NAME, ONLINE_PUB_NAME]
