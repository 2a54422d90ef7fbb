"""Hostile model packages for tests and benchmarks (not shipped): archives a reader must refuse
without reading their members, such as the "quoted overlap" zip bomb of stored members.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

__all__ = ["HEAD", "overlap_bomb"]

HEAD = ("manifest.json", "manifest.sig", "device.bin", "device.sig")
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")


def overlap_bomb(members: int, payload: int, names: Sequence[str] | None = None) -> bytes:
    """A ZIP of ``members`` stored entries nested in one another: entry i's bytes are the local
    headers of entries i+1.. and a ``payload``-byte tail, so every entry is valid on its own (names,
    sizes, CRC-32) and a reader that inflates them all reads about ``members × file size`` bytes.

    Names: the package's head members, then ``a00000``, ``a00001``... (sorted, like artifacts)."""
    if names is None:
        names = [*HEAD, *(f"a{i:05d}" for i in range(max(0, members - len(HEAD))))][:members]
    encoded = [n.encode() for n in names]
    tail = bytes(payload)
    # sizes and CRCs from the innermost entry outwards
    headers: list[bytes] = [b""] * members
    sizes = [0] * members
    crcs = [0] * members
    inner = tail
    for i in range(members - 1, -1, -1):
        sizes[i], crcs[i] = len(inner), zlib.crc32(inner)
        headers[i] = (
            _LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, 0x21, crcs[i], sizes[i], sizes[i], len(encoded[i]), 0)
            + encoded[i]
        )
        inner = headers[i] + inner
    body = inner
    offsets = []
    at = 0
    for h in headers:
        offsets.append(at)
        at += len(h)
    central = b"".join(
        _CENTRAL.pack(
            b"PK\x01\x02",
            0x031E,
            20,
            0,
            0,
            0,
            0x21,
            crcs[i],
            sizes[i],
            sizes[i],
            len(encoded[i]),
            0,
            0,
            0,
            0,
            0o100644 << 16,
            offsets[i],
        )
        + encoded[i]
        for i in range(members)
    )
    end = _END.pack(b"PK\x05\x06", 0, 0, members, members, len(central), len(body), 0)
    return body + central + end
