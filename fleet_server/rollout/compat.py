"""Compatibility of a device with a model package, checked before the planner assigns it.

A device is compatible when all of these hold (each failure is one reason string):

1. its board is in the board catalogue (``tinyfleet.boards``) and in the package's ``boards``;
2. every runtime it may use (the ones it reports, else the board's) runs every op in
   ``requirements.ops`` (the runtime catalogue's rule, ``tinyfleet.catalogue.ops_verdict``, which
   ``model verify`` applies to a board too);
3. ``requirements.arena_bytes`` <= the board's ``arena_budget`` (and the device's own, if it reported one);
4. ``requirements.flash_bytes`` (model + golden vectors) <= the board's ``model_slot_bytes`` (and
   the device's reported flash budget).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tinyfleet.boards import Board, all_boards
from tinyfleet.catalogue import op_tables, ops_verdict
from tinyfleet.errors import UsageError
from tinyfleet.server.rollout.model import DeviceView, PackageInfo

__all__ = ["RUNTIME_OPS", "check", "package_info"]

# Runtime name -> the operators it runs (None: any), from the runtime catalogue (tinyfleet/runtimes.toml).
RUNTIME_OPS: Mapping[str, frozenset[str] | None] = op_tables()


def package_info(manifest: Mapping[str, Any], sha256: str) -> PackageInfo:
    """The fields the engine uses from a verified package's ``manifest.json`` (docs/model-package.md)."""
    req = manifest.get("requirements")
    if not isinstance(req, Mapping):
        raise UsageError("package manifest has no requirements")
    flash = req.get("flash_bytes")
    if flash is None:
        arts = manifest.get("artifacts") or {}
        flash = sum(int(arts.get(m, {}).get("size", 0)) for m in ("model.tflite", "golden.bin"))
    info = PackageInfo(
        name=str(manifest.get("name", "")),
        version=str(manifest.get("version", "")),
        sha256=sha256,
        boards=tuple(str(b) for b in manifest.get("boards", ())),
        ops=tuple(sorted({str(o) for o in req.get("ops", ())})),
        arena_bytes=int(req.get("arena_bytes", -1)),
        flash_bytes=int(flash),
        security_counter=int(manifest.get("security_counter", 0)),
    )
    info.validate()
    return info


def check(
    device: DeviceView,
    package: PackageInfo,
    runtime_ops: Mapping[str, frozenset[str] | None] = RUNTIME_OPS,
    boards: Mapping[str, Board] | None = None,
) -> tuple[str, ...]:
    """Reasons ``device`` cannot run ``package``; empty when it is compatible."""
    catalogue = all_boards() if boards is None else boards
    board = catalogue.get(device.board)
    if board is None:
        return (f"unknown board {device.board!r}",)
    reasons: list[str] = []
    if board.name not in package.boards:
        reasons.append(f"board {board.name} not among the package's boards ({', '.join(package.boards)})")
    runtimes = device.runtimes or board.runtimes
    reasons.extend(ops_verdict(package.ops, runtimes, runtime_ops).reasons())
    arena = min(
        board.arena_budget, device.arena_budget if device.arena_budget is not None else board.arena_budget
    )
    if package.arena_bytes > arena:
        reasons.append(f"arena {package.arena_bytes} B > budget {arena} B")
    slot = min(
        board.model_slot_bytes,
        device.flash_budget if device.flash_budget is not None else board.model_slot_bytes,
    )
    if package.flash_bytes > slot:
        reasons.append(f"model + golden {package.flash_bytes} B > model slot {slot} B")
    return tuple(reasons)
