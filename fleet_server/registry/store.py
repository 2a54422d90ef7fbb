"""Content-addressed artifact store on the filesystem: ``ROOT/ab/abcdef...`` by sha256 of the bytes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tinyfleet.fsutil import atomic_write_bytes

__all__ = ["ArtifactStore"]

_SHA = re.compile(r"^[0-9a-f]{64}\Z")


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise ValueError(f"not a sha256 digest: {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():  # same address, same bytes: writing again is pointless
            atomic_write_bytes(target, data, mode=0o644)
        return digest

    def has(self, sha256: str) -> bool:
        try:
            return self.path(sha256).is_file()
        except ValueError:
            return False

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()
