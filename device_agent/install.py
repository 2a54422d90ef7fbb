"""A/B model slots on disk with an atomic switch.

Layout under the state folder::

    slots/a/package.tfpkg     a complete, verified package (written with atomic_dir)
    slots/b/package.tfpkg
    active -> slots/a         symlink; switched by writing a new link and renaming it over
    counter                   the highest confirmed security counter (anti-rollback floor)

Every write is atomic (temporary name + fsync + rename), so a power cut at any instant leaves
either the old or the new value, never a mix: a slot directory is either absent or complete, and
``active`` always names a complete slot (or nothing, before the first install).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Literal

from tinyfleet.fsutil import atomic_dir, atomic_write_text

__all__ = ["PACKAGE_NAME", "Slot", "SlotStore"]

Slot = Literal["a", "b"]
PACKAGE_NAME = "package.tfpkg"


def _other(slot: Slot) -> Slot:
    return "b" if slot == "a" else "a"


class SlotStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "slots").mkdir(parents=True, exist_ok=True)
        self._link = self.root / "active"

    def slot_dir(self, slot: Slot) -> Path:
        return self.root / "slots" / slot

    def package_path(self, slot: Slot) -> Path:
        return self.slot_dir(slot) / PACKAGE_NAME

    def has_package(self, slot: Slot) -> bool:
        return self.package_path(slot).is_file()

    def active(self) -> Slot | None:
        try:
            target = os.readlink(self._link)
        except FileNotFoundError:
            return None
        name = Path(target).name
        return name if name in ("a", "b") else None  # type: ignore[return-value]

    def inactive(self) -> Slot:
        act = self.active()
        return "a" if act is None else _other(act)

    def install(self, slot: Slot, package: bytes) -> Path:
        """Write a package into ``slot`` (replacing what was there); complete or absent."""
        if slot == self.active():
            raise ValueError(f"slot {slot} is active; install into the other slot")
        with atomic_dir(self.slot_dir(slot)) as tmp, open(tmp / PACKAGE_NAME, "wb") as fh:
            fh.write(package)
            fh.flush()
            os.fsync(fh.fileno())
        self._fsync_dir(self.root / "slots")
        return self.package_path(slot)

    def switch(self, slot: Slot | None) -> None:
        """Point ``active`` at ``slot`` (or remove it) atomically."""
        if slot is None:
            with contextlib.suppress(FileNotFoundError):
                self._link.unlink()
            self._fsync_dir(self.root)
            return
        if not self.has_package(slot):
            raise ValueError(f"slot {slot} holds no package")
        tmp = self.root / ".active.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.path.join("slots", slot), tmp)
        os.replace(tmp, self._link)
        self._fsync_dir(self.root)

    def clear(self, slot: Slot) -> None:
        if slot == self.active():
            raise ValueError(f"slot {slot} is active")
        shutil.rmtree(self.slot_dir(slot), ignore_errors=True)

    def counter(self) -> int:
        try:
            return int((self.root / "counter").read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def reset_counter(self, value: int) -> None:
        """Set the floor to ``value``, also lower (only for a root-signed reset, tinyfleet.trust)."""
        atomic_write_text(self.root / "counter", f"{value}\n")

    def raise_counter(self, value: int) -> None:
        if value > self.counter():
            atomic_write_text(self.root / "counter", f"{value}\n")

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
