"""Ingest path without MQTT: how many device messages one server process validates (wire decode)
and writes (batched), fed straight into ``Ingest.handle`` from one thread, on SQLite.

Printed: the decode rate of ``handle`` alone (the MQTT callback's work), and the end-to-end rate
until every message is written, for a heartbeat-only mix and a realistic mix (heartbeats, states,
telemetry, events). ``TINYFLEET_BENCH_PROFILE=1`` prints the top of a cProfile of the mix.
Figures, never asserts; the MQTT ceiling beside it is in ``bench/server.py``.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import cast

from rich.console import Console
from rich.table import Table
from sqlalchemy import Table as SaTable
from sqlalchemy import insert

from tinyfleet import wire
from tinyfleet.server.bus import Bus
from tinyfleet.server.db import Database, Device, migrate
from tinyfleet.server.mqtt.ingest import Ingest
from tinyfleet.wire import Channel

DEVICES = 2000
_DEV = cast(SaTable, Device.__table__)


def _messages(n: int, mix: bool) -> list[tuple[str, bytes]]:
    now = time.time()
    hb = wire.encode(wire.Heartbeat(ts=now, uptime_s=5.0, model_version="1.0.0"))
    tm = wire.encode(
        wire.Telemetry(
            ts=now, period_s=60.0, model="1.0.0", n=120, err=0, cls=[40, 40, 40], conf=[0] * 12 + [30] * 4
        )
    )
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        d = f"d{i % DEVICES:05d}"
        k = i % 10 if mix else 0
        if k < 7:
            out.append((wire.topic(d, Channel.HB), hb))
        elif k == 7:
            out.append((wire.topic(d, Channel.TM), tm))
        elif k == 8:
            st = wire.DeviceState(device_id=d, board="rpi4", kind="sim", update="idle", ts=now + i, seq=i)
            out.append((wire.topic(d, Channel.STATE), wire.encode(st)))
        else:
            ev = wire.DeviceEvent(deployment_id="r1-x", type=wire.EventType("download_started"), ts=now)
            out.append((wire.topic(d, Channel.EVENT), wire.encode(ev)))
    return out


def measure(n: int, mix: bool, profile: cProfile.Profile | None = None) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="tf-ingest-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'fleet.db'}")
        migrate(db)
        with db.session() as s:
            s.execute(
                insert(_DEV),
                [
                    {"id": f"d{i:05d}", "board": "rpi4", "tags": {}, "secret_hash": "x", "enrolled_at": 0.0}
                    for i in range(DEVICES)
                ],
            )
        ing = Ingest(db, Bus())
        ing.refresh_devices()
        msgs = _messages(n, mix)
        ing.start()
        if profile is not None:
            profile.enable()
        t0 = time.perf_counter()
        for topic, payload in msgs:
            ing.handle(topic, payload)
        decode_s = time.perf_counter() - t0
        while ing.stats["written"] + ing.stats["dropped"] < n and time.perf_counter() - t0 < 300:
            time.sleep(0.01)
        total_s = time.perf_counter() - t0
        if profile is not None:
            profile.disable()
        ing.stop()
        db.dispose()
        return n / decode_s, n / total_s


def run() -> None:
    console = Console()
    n = int(os.environ.get("TINYFLEET_BENCH_INGEST_MSGS", "200000"))
    prof = cProfile.Profile() if os.environ.get("TINYFLEET_BENCH_PROFILE") == "1" else None
    table = Table(title=f"ingest without MQTT: {n:,} messages from {DEVICES:,} devices, one process, SQLite")
    for c in ("mix", "validate (handle)", "validated + written"):
        table.add_column(c, justify="right")
    for mix in (False, True):
        dec, tot = measure(n, mix, prof if mix else None)
        table.add_row(
            "70 % hb, 10 % tm/state/event" if mix else "heartbeats", f"{dec:,.0f} msg/s", f"{tot:,.0f} msg/s"
        )
    if prof is not None:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
        console.print(out.getvalue())
    console.print(table)
    console.print(f"[dim]load average {os.getloadavg()[0]:.1f} (2 cores shared)[/dim]")


if __name__ == "__main__":
    run()
