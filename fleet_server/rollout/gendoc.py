"""Regenerate the state and transition tables of docs/rollouts.md from ``machine.TRANSITIONS``.

    python -m tinyfleet.server.rollout.gendoc [docs/rollouts.md]

The tables sit between the markers below; ``tests/rollout/test_docs.py`` fails when they are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tinyfleet.errors import UsageError
from tinyfleet.fsutil import atomic_write_text
from tinyfleet.server.rollout.machine import markdown_table

__all__ = [
    "BEGIN",
    "END",
    "main",
    "render",
]

BEGIN = "<!-- generated: tinyfleet.server.rollout.gendoc (do not edit by hand) -->"
END = "<!-- end generated -->"


def render(doc: str) -> str:
    """``doc`` with the text between the markers replaced by the current tables."""
    if doc.count(BEGIN) != 1 or doc.count(END) != 1 or doc.index(BEGIN) > doc.index(END):
        raise UsageError("docs/rollouts.md must hold the generated-table markers once, in order")
    head, rest = doc.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{markdown_table()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else Path(__file__).resolve().parents[2] / "docs" / "rollouts.md")
    text = path.read_text("utf-8")
    new = render(text)
    if new != text:
        atomic_write_text(path, new)
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
