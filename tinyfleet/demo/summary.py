"""The demo's closing tables: versions per device class, rollouts and outcomes, drift alerts."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from tinyfleet.demo.fleet import FleetClient

__all__ = ["print_summary"]


def print_summary(
    console: Console,
    fleet: FleetClient,
    outcomes: list[dict[str, Any]],
    drift_alerts: list[dict[str, Any]],
    canary_v3: list[str],
) -> None:
    versions = fleet.versions()
    all_versions = sorted({v for c in versions.values() for v in c})
    t = Table(title="model versions per device class", min_width=48)
    t.add_column("class")
    for v in all_versions:
        t.add_column(v, justify="right")
    for cls, counts in sorted(versions.items()):
        t.add_row(cls, *[str(counts.get(v, 0)) for v in all_versions])
    console.print(t)

    r = Table(title="rollouts", min_width=48)
    for c in ("id", "name", "version", "outcome", "devices by status"):
        r.add_column(c)
    for o in outcomes:
        r.add_row(
            str(o["id"]),
            o["name"],
            o["version"],
            str(o["status"]),
            json.dumps(o.get("assignments", {}), sort_keys=True),
        )
    console.print(r)

    d = Table(title="drift alerts (PSI against the package baseline)")
    for c in ("subject", "input PSI", "output PSI", "inferences"):
        d.add_column(c)
    for a in drift_alerts[:12]:
        d.add_row(a["subject"], f"{a['input_psi']:.3f}", f"{a['output_psi']:.3f}", str(a["n"]))
    if not drift_alerts:
        d.add_row("none", "", "", "")
    console.print(d)
    if canary_v3:
        console.print(f"v3 canary: {', '.join(canary_v3)}; no other device received v3.")
