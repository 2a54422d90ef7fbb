"""Flash layout of a firmware board, computed from its PlatformIO board file (firmware/pio/boards).

The model store follows the firmware image: two slot-state sectors, then model slots A and B
(hal.h: the core splits the region it is given). QEMU's flash file mirrors the model store only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tinyfleet.boards import get_board
from tinyfleet.errors import UsageError

__all__ = ["FlashLayout", "flash_layout"]


@dataclass(frozen=True)
class FlashLayout:
    board: str
    flash_bytes: int
    firmware_bytes: int  # the image budget: flash minus the model store
    sector_bytes: int
    state_sectors: int
    slot_bytes: int
    ram_bytes: int
    arena_bytes: int  # the static tensor arena the firmware is built with

    @property
    def store_base(self) -> int:
        return self.firmware_bytes

    @property
    def store_bytes(self) -> int:
        return self.state_sectors * self.sector_bytes + 2 * self.slot_bytes


def _boards_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "firmware" / "pio" / "boards"


def flash_layout(board_name: str) -> FlashLayout:
    path = _boards_dir() / f"{board_name}.json"
    if not path.is_file():
        raise UsageError(f"no firmware board file for {board_name} (firmware/pio/boards/{board_name}.json)")
    data = json.loads(path.read_text("utf-8"))
    b = data["build"]
    board = get_board(board_name)
    layout = FlashLayout(
        board=board_name,
        flash_bytes=int(b["flash_bytes"]),
        firmware_bytes=int(data["upload"]["maximum_size"]),
        sector_bytes=int(b["sector_bytes"]),
        state_sectors=int(b["state_sectors"]),
        slot_bytes=int(b["model_slot_bytes"]),
        ram_bytes=int(data["upload"]["maximum_ram_size"]),
        arena_bytes=int(b["arena_bytes"]),
    )
    if (layout.flash_bytes, layout.slot_bytes, layout.ram_bytes, layout.arena_bytes) != (
        board.flash_bytes,
        board.model_slot_bytes,
        board.ram_bytes,
        board.arena_budget,
    ):
        raise UsageError(f"firmware/pio/boards/{board_name}.json disagrees with tinyfleet/boards.toml")
    return layout
