"""Key roles: an offline root (k of n keys) certifies the keys that sign packages and the server's
online keys, so keys rotate and are revoked without re-flashing a device.

Two documents, each canonical JSON (sorted keys, no spaces) with detached Ed25519 signatures:

- the **root** (``tinyfleet.root/1``): ``keys`` (key id -> raw public key hex) and ``threshold``
  (k). Devices are provisioned with it once; it is the only key material they need.
- the **key list** (``tinyfleet.keys/1``): ``version`` (strictly increasing), ``expires_at``,
  ``package_keys`` and ``online_keys`` (key id -> public key hex), ``revoked`` (key ids never to
  be trusted again, whatever a later list says). Valid only with signatures by at least
  ``threshold`` distinct root keys.

A device accepts a key list only if it is signed by enough root keys, names a higher version than
the one it holds (a replayed older list, which would bring back a revoked key, is refused), has not
expired, and lists no key also revoked. It then trusts exactly its package and online keys. Pure
functions; the server attaches the current list to each desired state (``tinyfleet.desired``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.errors import SignatureError
from tinyfleet.signing import key_id, public_key_raw, sign, verify

__all__ = [
    "KEYS_SCHEMA",
    "MAX_COUNTER_STEP",
    "MAX_KEYS",
    "ROOT_SCHEMA",
    "KeyList",
    "Root",
    "SignedDoc",
    "TrustError",
    "check_key_list",
    "key_list_from",
    "make_root",
    "sign_key_list",
]

ROOT_SCHEMA = "tinyfleet.root/1"
KEYS_SCHEMA = "tinyfleet.keys/1"
MAX_KEYS = 16
# the most one release may raise a model's security counter (the registry refuses more): 2^32-1 can
# then only be reached through 4 million releases, never by one typo or one stolen package key
MAX_COUNTER_STEP = 1000
_KID = re.compile(r"^[0-9a-f]{16}\Z")
_PUB = re.compile(r"^[0-9a-f]{64}\Z")
_DEVICE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}\Z")


class TrustError(SignatureError):
    """A root or key list that must not be trusted (refused like a bad signature)."""


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _keys_table(value: object, what: str) -> dict[str, bytes]:
    if not isinstance(value, dict) or len(value) > MAX_KEYS:
        raise TrustError(f"{what}: at most {MAX_KEYS} keys, as key id -> public key hex")
    out = {}
    for kid, pub in value.items():
        if not (isinstance(kid, str) and _KID.match(kid) and isinstance(pub, str) and _PUB.match(pub)):
            raise TrustError(f"{what}: bad entry {str(kid)[:20]!r}")
        raw = bytes.fromhex(pub)
        if key_id(raw) != kid:
            raise TrustError(f"{what}: key id {kid} is not the id of its public key")
        out[kid] = raw
    return out


@dataclass(frozen=True)
class Root:
    keys: dict[str, bytes]  # key id -> raw public key
    threshold: int

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": ROOT_SCHEMA,
            "threshold": self.threshold,
            "keys": {k: v.hex() for k, v in sorted(self.keys.items())},
        }

    @staticmethod
    def from_json(data: object) -> Root:
        if not isinstance(data, dict) or data.get("schema") != ROOT_SCHEMA:
            raise TrustError(f"not a {ROOT_SCHEMA} document")
        keys = _keys_table(data.get("keys"), "root")
        k = data.get("threshold")
        if not (isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= len(keys)):
            raise TrustError(f"root: threshold must be 1..{len(keys)} (the number of root keys)")
        return Root(keys, k)


def make_root(public_keys: list[bytes], threshold: int) -> Root:
    root = Root({key_id(p): p for p in public_keys}, threshold)
    return Root.from_json(root.to_json())  # the same checks as a device's


@dataclass(frozen=True)
class KeyList:
    version: int
    expires_at: float
    package_keys: dict[str, bytes] = field(default_factory=dict)
    online_keys: dict[str, bytes] = field(default_factory=dict)
    revoked: tuple[str, ...] = ()
    # device id (or "*": every device) -> the security counter floor it must go back to, once: on
    # adopting this list (recovery from a fast-forwarded counter; never copied into the next list)
    counter_resets: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": KEYS_SCHEMA,
            "version": self.version,
            "expires_at": self.expires_at,
            "package_keys": {k: v.hex() for k, v in sorted(self.package_keys.items())},
            "online_keys": {k: v.hex() for k, v in sorted(self.online_keys.items())},
            "revoked": sorted(set(self.revoked)),
            "counter_resets": dict(sorted(self.counter_resets.items())),
        }

    def counter_reset_for(self, device_id: str) -> int | None:
        """The floor this list resets ``device_id``'s counter to (its own entry first), if any."""
        return self.counter_resets.get(device_id, self.counter_resets.get("*"))


@dataclass(frozen=True)
class SignedDoc:
    payload: bytes  # KeyList canonical JSON
    signatures: tuple[tuple[str, bytes], ...]  # (root key id, signature)

    def to_json(self) -> dict[str, Any]:
        return {
            "payload": self.payload.decode(),
            "signatures": [{"key_id": k, "sig": s.hex()} for k, s in self.signatures],
        }

    @staticmethod
    def from_json(data: object) -> SignedDoc:
        try:
            assert isinstance(data, dict)
            payload = data["payload"]
            sigs = data["signatures"]
            assert isinstance(payload, str) and len(payload) <= 16384
            assert isinstance(sigs, list) and len(sigs) <= MAX_KEYS
            pairs = tuple((str(s["key_id"]), bytes.fromhex(s["sig"])) for s in sigs)
        except (AssertionError, KeyError, TypeError, ValueError):
            raise TrustError("key list: not a signed document (payload, signatures)") from None
        return SignedDoc(payload.encode(), pairs)


def key_list_from(payload: bytes) -> KeyList:
    """Decode and check a key list's fields (not its signatures)."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TrustError("key list: not JSON") from None
    if not isinstance(data, dict) or data.get("schema") != KEYS_SCHEMA:
        raise TrustError(f"key list: not a {KEYS_SCHEMA} document")
    version, expires = data.get("version"), data.get("expires_at")
    if not (isinstance(version, int) and not isinstance(version, bool) and 0 < version < 2**53):
        raise TrustError("key list: version must be a positive integer")
    if not (isinstance(expires, int | float) and not isinstance(expires, bool) and math.isfinite(expires)):
        raise TrustError("key list: expires_at must be a UNIX time")
    revoked = data.get("revoked", [])
    if not (isinstance(revoked, list) and all(isinstance(r, str) and _KID.match(r) for r in revoked)):
        raise TrustError("key list: revoked must list key ids")
    resets = data.get("counter_resets", {})
    if not (
        isinstance(resets, dict)
        and len(resets) <= 256
        and all(
            isinstance(d, str)
            and (d == "*" or _DEVICE.match(d))
            and isinstance(c, int)
            and not isinstance(c, bool)
            and 0 <= c <= 0xFFFFFFFF
            for d, c in resets.items()
        )
    ):
        raise TrustError("key list: counter_resets must map device ids (or *) to counters 0..2^32-1")
    doc = KeyList(
        version,
        float(expires),
        _keys_table(data.get("package_keys"), "key list package_keys"),
        _keys_table(data.get("online_keys"), "key list online_keys"),
        tuple(revoked),
        dict(resets),
    )
    if _canonical(doc.to_json()) != payload:
        raise TrustError("key list: not in canonical form")
    bad = (set(doc.package_keys) | set(doc.online_keys)) & set(doc.revoked)
    if bad:
        raise TrustError(f"key list: key {sorted(bad)[0]} is both trusted and revoked")
    return doc


def sign_key_list(doc: KeyList, root_keys: list[Ed25519PrivateKey]) -> SignedDoc:
    payload = _canonical(doc.to_json())
    key_list_from(payload)  # never sign what a device would refuse
    return SignedDoc(payload, tuple((key_id(public_key_raw(k)), sign(k, payload)) for k in root_keys))


def check_key_list(
    signed: SignedDoc, root: Root, *, current_version: int, revoked: set[str], now: float
) -> KeyList:
    """The key list, if a device holding ``root``, a list of ``current_version`` and the revocations
    ``revoked`` may adopt it now; else :class:`TrustError` saying why."""
    good: set[str] = set()
    for kid, sig in signed.signatures:
        if kid in root.keys and kid not in good:
            try:
                verify(root.keys, kid, signed.payload, sig, what="key list")
            except SignatureError:
                continue
            good.add(kid)
    if len(good) < root.threshold:
        raise TrustError(f"key list: {len(good)} valid root signature(s), {root.threshold} needed")
    doc = key_list_from(signed.payload)
    if doc.version <= current_version:
        raise TrustError(f"key list {doc.version} is not newer than {current_version} (replayed or stale)")
    if now > doc.expires_at:
        raise TrustError(f"key list {doc.version} expired {now - doc.expires_at:.0f} s ago")
    again = (set(doc.package_keys) | set(doc.online_keys)) & revoked
    if again:
        raise TrustError(f"key list {doc.version} trusts key {sorted(again)[0]}, which was revoked")
    return doc
