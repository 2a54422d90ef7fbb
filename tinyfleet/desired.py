"""Signed desired states: the wire ``DesiredState`` carrying a :mod:`tinyfleet.instruction` that the
server signed for one device with its online key.

On the wire the signed form is the ``desired`` message with one more field, ``signed``:
``{"payload": <the canonical instruction JSON as a string>, "sig": <128 hex>, "key_id": <16 hex>}``.
A reader of version 1 that does not verify ignores the unknown field (msgspec skips it), so devices
that do not verify yet keep working unchanged; a device that verifies (it has online keys
configured) acts only on what the signed payload says, and refuses a message whose unsigned fields
disagree with it.

The per-device sequence number is the server's ``desired_rev`` of the device (raised by every new
desired state, also by a refresh before the signature expires), so it only grows.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet import wire
from tinyfleet.instruction import (
    MAX_VALIDITY_S,
    Instruction,
    InstructionError,
    SignedInstruction,
    check_instruction,
    sign_instruction,
)
from tinyfleet.trust import SignedDoc

__all__ = [
    "DESIRED_VALIDITY_S",
    "ONLINE_KEY_NAME",
    "ONLINE_PUB_NAME",
    "KeyListBlock",
    "RootSignature",
    "SignedBlock",
    "SignedDesiredState",
    "check_desired",
    "instruction_for",
    "key_list_block",
    "key_list_doc",
    "parse_signed",
    "sign_desired",
]

DESIRED_VALIDITY_S = 86400.0  # a signed desired state expires a day after it was issued
ONLINE_KEY_NAME = "online.key"  # in the server's data folder (PKCS#8 PEM, 0600)
ONLINE_PUB_NAME = "online.pub"  # 64 hex characters: what devices trust for desired states
_PAYLOAD_MAX = 1024
assert DESIRED_VALIDITY_S <= MAX_VALIDITY_S


class SignedBlock(msgspec.Struct, frozen=True, kw_only=True):
    """The signature of a desired state: the instruction it stands for, byte for byte."""

    payload: Annotated[str, msgspec.Meta(max_length=_PAYLOAD_MAX, description="canonical instruction JSON")]
    sig: Annotated[str, msgspec.Meta(pattern=wire.pattern("[0-9a-f]{128}"), description="Ed25519, hex")]
    key_id: Annotated[str, msgspec.Meta(pattern=wire.pattern("[0-9a-f]{16}"), description="signing key id")]


class RootSignature(msgspec.Struct, frozen=True, kw_only=True):
    key_id: Annotated[str, msgspec.Meta(pattern=wire.pattern("[0-9a-f]{16}"), description="root key id")]
    sig: Annotated[str, msgspec.Meta(pattern=wire.pattern("[0-9a-f]{128}"), description="Ed25519, hex")]


class KeyListBlock(msgspec.Struct, frozen=True, kw_only=True):
    """The server's current root-signed key list (``tinyfleet.trust``), as it was signed."""

    payload: Annotated[str, msgspec.Meta(max_length=4096, description="canonical key list JSON")]
    signatures: Annotated[list[RootSignature], msgspec.Meta(max_length=16)]


class SignedDesiredState(wire.DesiredState, frozen=True, kw_only=True):
    """``DesiredState`` plus its signature (absent: sent by a server that does not sign) and the
    key list a device needs to check it (absent: the server has none)."""

    signed: SignedBlock | None = None
    keys: KeyListBlock | None = None


_DECODER = msgspec.json.Decoder(SignedDesiredState)


def parse_signed(payload: bytes) -> SignedDesiredState:
    """Decode a ``desired`` message keeping its signature; :class:`wire.WireError` if malformed."""
    wire.parse(wire.Channel.DESIRED, payload)  # every bound of the plain message first
    try:
        return _DECODER.decode(payload)
    except msgspec.MsgspecError as exc:
        raise wire.WireError(f"desired: {exc}") from None


def instruction_for(device_id: str, desired: wire.DesiredState, seq: int, validity: float) -> Instruction:
    m = desired.model
    return Instruction(
        device_id=device_id,
        deployment_id=desired.deployment_id,
        seq=seq,
        issued_at=desired.issued_at,
        expires_at=desired.issued_at + validity,
        sha256=m.sha256 if m else None,
        version=m.version if m else None,
        security_counter=m.security_counter if m else None,
        size=m.size if m else None,
    )


def sign_desired(
    key: Ed25519PrivateKey,
    device_id: str,
    desired: wire.DesiredState,
    seq: int,
    validity: float = DESIRED_VALIDITY_S,
    keys: SignedDoc | None = None,
) -> SignedDesiredState:
    """``desired`` for ``device_id`` signed as instruction ``seq``, valid ``validity`` s from its issue
    (with the root-signed key list ``keys`` attached, if given)."""
    s = sign_instruction(key, instruction_for(device_id, desired, seq, validity))
    block = SignedBlock(payload=s.payload.decode(), sig=s.signature.hex(), key_id=s.key_id)
    fields = {f: getattr(desired, f) for f in wire.DesiredState.__struct_fields__}
    return SignedDesiredState(**fields, signed=block, keys=None if keys is None else key_list_block(keys))


def key_list_block(doc: SignedDoc) -> KeyListBlock:
    return KeyListBlock(
        payload=doc.payload.decode(),
        signatures=[RootSignature(key_id=k, sig=s.hex()) for k, s in doc.signatures],
    )


def key_list_doc(block: KeyListBlock) -> SignedDoc:
    return SignedDoc(
        block.payload.encode(), tuple((s.key_id, bytes.fromhex(s.sig)) for s in block.signatures)
    )


def check_desired(
    desired: SignedDesiredState,
    trusted: dict[str, bytes],
    *,
    device_id: str,
    last_seq: int,
    now: float,
) -> Instruction:
    """The signed instruction, if this device may act on ``desired`` now; else
    :class:`InstructionError` (or :class:`tinyfleet.errors.SignatureError`) saying why."""
    b = desired.signed
    if b is None:
        raise InstructionError("desired state is not signed")
    signed = SignedInstruction(b.payload.encode(), bytes.fromhex(b.sig), b.key_id)
    inst = check_instruction(signed, trusted, device_id=device_id, last_seq=last_seq, now=now)
    m = desired.model
    plain = (desired.deployment_id,) + (
        (m.sha256, m.version, m.security_counter, m.size) if m else (None, None, None, None)
    )
    if plain != (inst.deployment_id, inst.sha256, inst.version, inst.security_counter, inst.size):
        raise InstructionError("desired state differs from what its signature covers")
    return inst
