"""The board catalogue (`boards.toml` beside this file): what each board can hold and run."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from tinyfleet.errors import UsageError

__all__ = ["Board", "all_boards", "get_board"]


@dataclass(frozen=True)
class Board:
    name: str
    kind: str  # "mcu" or "linux"
    description: str
    cpu: str
    flash_bytes: int
    ram_bytes: int
    firmware_flash_budget: int
    model_slot_bytes: int
    arena_budget: int
    runtimes: tuple[str, ...]

    @property
    def is_mcu(self) -> bool:
        return self.kind == "mcu"


@cache
def all_boards() -> dict[str, Board]:
    raw = tomllib.loads(resources.files("tinyfleet").joinpath("boards.toml").read_text("utf-8"))
    boards: dict[str, Board] = {}
    for name, b in raw["boards"].items():
        boards[name] = Board(name=name, runtimes=tuple(b.pop("runtimes")), **b)
    return boards


def get_board(name: str) -> Board:
    boards = all_boards()
    if name not in boards:
        raise UsageError(f"unknown board {name!r}; known boards: {', '.join(sorted(boards))}")
    return boards[name]
