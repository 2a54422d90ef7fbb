"""Signed, expiring instructions: the desired state as the server signs it for one device.

The first step of the TUF/Uptane plan in docs/security.md. The server signs what it tells *one*
device to run with its online key; before acting on it, the device checks, in this order:

1. the Ed25519 signature, by a key it trusts (the online key, certified by the root in a later step);
2. the schema and every field's type and bound;
3. that it names this device (an instruction for another device is refused: *mix-and-match*);
4. that its per-device sequence number is above the last one the device accepted (*replay*, *stale*);
5. that it is not expired (*freeze*: a server or mirror withholding newer instructions cannot keep a
   device on an old one beyond ``expires_at``), nor issued in the future, nor valid for longer than
   :data:`MAX_VALIDITY_S`.

The signed bytes are canonical JSON (sorted keys, no spaces), so any encoder reproduces them. Pure
functions, no I/O: the server, the agent and the gateway share them; the firmware implements the
same checks in C.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.errors import SignatureError
from tinyfleet.signing import key_id, public_key_raw, sign, verify

__all__ = [
    "CLOCK_SKEW_S",
    "MAX_VALIDITY_S",
    "SCHEMA",
    "Instruction",
    "InstructionError",
    "SignedInstruction",
    "check_instruction",
    "sign_instruction",
]

SCHEMA = "tinyfleet.instruction/1"
MAX_VALIDITY_S = 7 * 86400  # an instruction outlives its issue by at most a week
CLOCK_SKEW_S = 300.0  # tolerated difference between the server's and the device's clocks
_SEQ_MAX = 2**53  # exact in every JSON reader
_DEVICE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}\Z")
_SHA_RE = re.compile(r"^[0-9a-f]{64}\Z")
_VERSION_RE = re.compile(r"^\d{1,5}\.\d{1,5}\.\d{1,5}\Z")
_DEPLOYMENT_MAX = 64


class InstructionError(SignatureError):
    """An instruction the device must not act on (a :class:`SignatureError`: refused like a bad signature)."""


@dataclass(frozen=True)
class Instruction:
    """What one device must run. ``sha256`` None: keep what you run (no package fields then)."""

    device_id: str
    deployment_id: str
    seq: int  # per device, strictly increasing
    issued_at: float
    expires_at: float
    sha256: str | None = None
    version: str | None = None
    security_counter: int | None = None
    size: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **{k: v for k, v in asdict(self).items() if v is not None}}

    def canonical(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True)
class SignedInstruction:
    payload: bytes  # Instruction.canonical()
    signature: bytes
    key_id: str


def sign_instruction(key: Ed25519PrivateKey, instruction: Instruction) -> SignedInstruction:
    _validate(instruction)
    payload = instruction.canonical()
    return SignedInstruction(payload, sign(key, payload), key_id(public_key_raw(key)))


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_time(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def _validate(i: Instruction) -> None:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise InstructionError(f"instruction: {what}")

    need(isinstance(i.device_id, str) and bool(_DEVICE_RE.match(i.device_id)), "device_id is not a device id")
    need(
        isinstance(i.deployment_id, str) and 0 < len(i.deployment_id) <= _DEPLOYMENT_MAX,
        f"deployment_id must be 1..{_DEPLOYMENT_MAX} characters",
    )
    need(_is_int(i.seq) and 0 < i.seq <= _SEQ_MAX, "seq must be an integer from 1 to 2^53")
    need(_is_time(i.issued_at) and _is_time(i.expires_at), "issued_at and expires_at must be UNIX times")
    need(i.expires_at > i.issued_at, "expires_at must be after issued_at")
    need(i.expires_at - i.issued_at <= MAX_VALIDITY_S, f"valid for more than {MAX_VALIDITY_S} s")
    package = (i.sha256, i.version, i.security_counter, i.size)
    if i.sha256 is None:
        need(all(v is None for v in package), "package fields without a sha256")
        return
    need(
        isinstance(i.sha256, str) and bool(_SHA_RE.match(i.sha256)), "sha256 must be 64 lower-case hex digits"
    )
    need(
        isinstance(i.version, str) and bool(_VERSION_RE.match(i.version)), "version must be MAJOR.MINOR.PATCH"
    )
    need(
        _is_int(i.security_counter) and 0 <= i.security_counter <= 0xFFFFFFFF,  # type: ignore[operator]
        "security_counter must be an integer from 0 to 2^32-1",
    )
    need(_is_int(i.size) and 0 < i.size <= 2**40, "size must be a positive integer")  # type: ignore[operator]


def _decode(payload: bytes) -> Instruction:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InstructionError("instruction: not JSON") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InstructionError(f"instruction: not a {SCHEMA} document")
    fields = set(Instruction.__dataclass_fields__)
    unknown = sorted(set(data) - fields - {"schema"})
    if unknown:
        raise InstructionError(f"instruction: unknown field {unknown[0]!r}")
    try:
        inst = Instruction(**{k: v for k, v in data.items() if k != "schema"})
    except TypeError:
        raise InstructionError("instruction: missing fields") from None
    _validate(inst)
    if inst.canonical() != payload:
        raise InstructionError("instruction: not in canonical form")
    return inst


def check_instruction(
    signed: SignedInstruction,
    trusted: dict[str, bytes],
    *,
    device_id: str,
    last_seq: int,
    now: float,
    skew: float = CLOCK_SKEW_S,
) -> Instruction:
    """The instruction, if this device may act on it now; else :class:`InstructionError` (or the
    :class:`SignatureError` of a bad signature) saying why."""
    verify(trusted, signed.key_id, signed.payload, signed.signature, what="instruction")
    inst = _decode(signed.payload)
    if inst.device_id != device_id:
        raise InstructionError(f"instruction for device {inst.device_id!r}, not {device_id!r}")
    if inst.seq <= last_seq:
        raise InstructionError(f"instruction {inst.seq} is not newer than {last_seq} (replayed or stale)")
    if now > inst.expires_at + skew:
        raise InstructionError(f"instruction {inst.seq} expired {now - inst.expires_at:.0f} s ago")
    if inst.issued_at > now + skew:
        raise InstructionError(f"instruction {inst.seq} is issued {inst.issued_at - now:.0f} s in the future")
    return inst
