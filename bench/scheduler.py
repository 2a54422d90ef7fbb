"""Scheduler step cost against fleet size, without MQTT: N devices in a SQLite database, a 4-stage
zero-soak rollout (1 %, 10 %, 50 %, 100 %) stepped by ``step_rollout`` while a stand-in for the
devices confirms whatever desired state they were sent (bulk row updates, not timed).

Printed per N (``TINYFLEET_BENCH_STEP_SIZES``, default 1000,10000,30000): the scheduler time of the
whole rollout, the number of steps, the slowest step, and the cost of an idle step (nothing changed
since the last one) — the figure that must not grow with the fleet. ``TINYFLEET_BENCH_PROFILE=1``
prints the top of a cProfile of the 10k rollout. Figures, never asserts.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.table import Table
from sqlalchemy import Table as SaTable
from sqlalchemy import bindparam, insert, select, update

from testkit.server import make_package
from tinyfleet.server.db import Database, Device, migrate
from tinyfleet.server.registry import ArtifactStore
from tinyfleet.server.registry.publish import publish_package
from tinyfleet.server.scheduler.handler import create_rollout, step_rollout
from tinyfleet.server.scheduler.snapshot import SLACK_S
from tinyfleet.signing import init_keys, load_trusted_keys

STAGES = [
    {"name": "one", "percent": 1},
    {"name": "ten", "percent": 10},
    {"name": "half", "percent": 50},
    {"name": "all", "percent": 100},
]
_DEV = cast(SaTable, Device.__table__)


def _fleet(directory: Path, n: int) -> Database:
    db = Database(f"sqlite:///{directory / 'fleet.db'}")
    migrate(db)
    keys = directory / "keys"
    init_keys(keys)
    store = ArtifactStore(directory / "artifacts")
    trusted = load_trusted_keys([keys / "tinyfleet-signing.pub"])
    with db.session() as s:
        for version, counter in (("1.0.0", 1), ("2.0.0", 1)):
            publish_package(s, store, make_package(keys, "kws", version, counter), trusted)
        rows = [
            {
                "id": f"d{i:06d}",
                "board": "rpi4",
                "tags": {"bench": "1"},
                "secret_hash": "x",
                "enrolled_at": 0.0,
                "model_name": "kws",
                "model_version": "1.0.0",
                "update_state": "idle",
                "online": True,
            }
            for i in range(n)
        ]
        for i in range(0, n, 5000):
            s.execute(insert(_DEV), rows[i : i + 5000])
    return db


_CONFIRM = (
    update(_DEV)
    .where(_DEV.c.id == bindparam("d"))
    .values(
        model_name=bindparam("name"),
        model_version=bindparam("version"),
        model_sha256=bindparam("sha"),
        deployment_id=bindparam("dep"),
        update_state="confirmed",
        published_rev=_DEV.c.desired_rev,
        changed_at=bindparam("t"),
    )
)


def _devices_confirm(db: Database) -> int:
    """What the devices do between two steps: run and confirm the model their desired state names."""
    with db.session() as s:
        rows = s.execute(
            select(_DEV.c.id, _DEV.c.desired).where(_DEV.c.published_rev < _DEV.c.desired_rev)
        ).all()
        params: list[dict[str, Any]] = []
        for d, desired in rows:
            m = (desired or {}).get("model") or {}
            params.append(
                {
                    "d": d,
                    "name": m.get("name"),
                    "version": m.get("version"),
                    "sha": m.get("sha256"),
                    "dep": desired["deployment_id"],
                    "t": time.time(),
                }
            )
        if params:
            s.execute(_CONFIRM, params)
        return len(params)


def measure(n: int, profile: cProfile.Profile | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="tf-step-") as tmp:
        db = _fleet(Path(tmp), n)
        with db.session() as s:
            row, _ = create_rollout(
                s, "bench", "kws", "2.0.0", {"selector": {"bench": "1"}}, STAGES, None, "bench"
            )
            rid = row.id
        total, slowest, steps, status = 0.0, 0.0, 0, ""
        idle: list[float] = []
        after100 = float("nan")
        for _ in range(200):
            if profile is not None:
                profile.enable()
            t0 = time.perf_counter()
            res = step_rollout(db, rid, "bench", "http://127.0.0.1:8080")
            dt = time.perf_counter() - t0
            if profile is not None:
                profile.disable()
            total += dt
            slowest = max(slowest, dt)
            steps += 1
            status = res.status
            if status in ("succeeded", "rolled_back", "aborted"):
                break
            if steps == 3:  # stage 2 assigned: idle steps, then a step after 100 devices changed
                time.sleep(SLACK_S + 1.0)  # nothing changed since: the step reads nothing
                for _ in range(5):
                    t1 = time.perf_counter()
                    step_rollout(db, rid, "bench", "http://127.0.0.1:8080")
                    idle.append(time.perf_counter() - t1)
                with db.session() as s:
                    ids = list(s.scalars(select(_DEV.c.id).limit(100)))
                    s.execute(update(_DEV).where(_DEV.c.id.in_(ids)).values(changed_at=time.time()))
                t1 = time.perf_counter()
                step_rollout(db, rid, "bench", "http://127.0.0.1:8080")
                after100 = time.perf_counter() - t1
            _devices_confirm(db)
        db.dispose()
        return {
            "n": n,
            "total_s": total,
            "steps": steps,
            "slowest_s": slowest,
            "idle_s": sorted(idle)[len(idle) // 2] if idle else float("nan"),
            "after100_s": after100,
            "ok": status == "succeeded",
        }


def run() -> None:
    console = Console()
    sizes = [int(x) for x in os.environ.get("TINYFLEET_BENCH_STEP_SIZES", "1000,10000,30000").split(",")]
    want_profile = os.environ.get("TINYFLEET_BENCH_PROFILE") == "1"
    table = Table(title="scheduler: 4-stage zero-soak rollout, devices confirm at once (SQLite, no MQTT)")
    cols = (
        "devices",
        "scheduler time",
        "steps",
        "slowest step",
        "idle step (median)",
        "step, 100 changed",
        "result",
    )
    for col in cols:
        table.add_column(col, justify="right")
    for n in sizes:
        prof = cProfile.Profile() if want_profile and n == 10000 else None
        r = measure(n, prof)
        table.add_row(
            f"{n:,}",
            f"{r['total_s']:.2f} s",
            str(int(r["steps"])),
            f"{r['slowest_s'] * 1000:.0f} ms",
            f"{r['idle_s'] * 1000:.1f} ms",
            f"{r['after100_s'] * 1000:.1f} ms",
            "succeeded" if r["ok"] else "NOT FINISHED",
        )
        if prof is not None:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
            console.print(out.getvalue())
    console.print(table)
    console.print(f"[dim]load average {os.getloadavg()[0]:.1f} (2 cores shared)[/dim]")


if __name__ == "__main__":
    run()
