"""Credentials for many devices at once, without a round trip per device.

A device's secret is derived from a fleet seed: ``secret = HMAC-SHA256(seed, device_id)`` (hex, 32
characters), so the simulator needs only the seed and the server or broker needs only the list.
``write_password_file`` writes a Mosquitto 2 password file (``user:$7$101$salt$hash``, PBKDF2-SHA512
with 101 iterations, the format ``mosquitto_passwd`` writes) and ``write_csv`` a ``device_id,secret``
list for a bulk enrollment API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from pathlib import Path

from tinyfleet.fsutil import atomic_write_text
from tinyfleet.wire import DEVICE_ID_RE

__all__ = ["device_ids", "device_secret", "mosquitto_hash", "write_csv", "write_password_file"]

PBKDF2_ITERATIONS = 101


def device_ids(n: int, prefix: str = "sim-", start: int = 0) -> list[str]:
    width = max(5, len(str(start + n - 1)))
    ids = [f"{prefix}{i:0{width}d}" for i in range(start, start + n)]
    if ids and not DEVICE_ID_RE.match(ids[0]):
        raise ValueError(f"prefix {prefix!r} makes invalid device ids")
    return ids


def device_secret(seed: str | bytes, device_id: str) -> str:
    key = seed.encode() if isinstance(seed, str) else seed
    return hmac.new(key, device_id.encode(), hashlib.sha256).hexdigest()[:32]


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    s = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), s, PBKDF2_ITERATIONS)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(s).decode()}${base64.b64encode(digest).decode()}"


def write_password_file(path: str | Path, users: Iterable[tuple[str, str]]) -> Path:
    lines = [f"{u}:{mosquitto_hash(p)}\n" for u, p in users]
    return atomic_write_text(path, "".join(lines), mode=0o644)


def write_csv(path: str | Path, users: Iterable[tuple[str, str]]) -> Path:
    return atomic_write_text(path, "device_id,secret\n" + "".join(f"{u},{p}\n" for u, p in users), mode=0o600)
