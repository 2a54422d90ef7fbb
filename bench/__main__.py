"""Run every benchmark module in bench/ that is present and print its figures.

Each module exposes ``run() -> None`` and prints a table. ``python -m bench NAME ...`` runs a subset.
A benchmark that cannot run here (missing models, tools) says so and the others still run.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

from rich.console import Console

ORDER = [
    "compiler",
    "runtime",
    "opsweep",
    "firmware",
    "server",
    "scheduler",
    "agent",
    "drift",
    "hostile",
    "install",
    "loop",
]


def main(argv: list[str]) -> int:
    console = Console()
    names = argv or ORDER
    failed = 0
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                console.print(f"[yellow]bench {name}: not present[/yellow]")
                continue
            raise
        console.rule(f"bench: {name}")
        t0 = time.perf_counter()
        try:
            module.run()
        except Exception as exc:  # noqa: BLE001 - one failing bench must not hide the others
            failed += 1
            console.print(f"[red]bench {name} failed: {type(exc).__name__}: {exc}[/red]")
            traceback.print_exc()
        console.print(f"[dim]{name}: {time.perf_counter() - t0:.1f} s[/dim]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
