"""Signed, expiring instructions (tinyfleet.instruction): a device refuses stale, replayed, expired,
future, other-device, tampered and untrusted instructions, and acts on a fresh one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyfleet.errors import SignatureError
from tinyfleet.instruction import (
    CLOCK_SKEW_S,
    MAX_VALIDITY_S,
    Instruction,
    InstructionError,
    SignedInstruction,
    check_instruction,
    sign_instruction,
)
from tinyfleet.signing import init_keys, load_signing_key, load_trusted_keys

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, dict[str, bytes], object]:
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    init_keys(a)
    init_keys(b)
    return (
        load_signing_key(a / "tinyfleet-signing.key"),
        load_trusted_keys([a / "tinyfleet-signing.pub"]),
        load_signing_key(b / "tinyfleet-signing.key"),
    )


def _inst(**over: object) -> Instruction:
    base: dict[str, object] = {
        "device_id": "dev-1",
        "deployment_id": "r7-dev-1-3",
        "seq": 10,
        "issued_at": NOW,
        "expires_at": NOW + 3600,
        "sha256": "ab" * 32,
        "version": "1.2.3",
        "security_counter": 4,
        "size": 12345,
    }
    base.update(over)
    return Instruction(**base)  # type: ignore[arg-type]


def _check(signed: SignedInstruction, trusted: dict[str, bytes], **over: object) -> Instruction:
    kw: dict[str, object] = {"device_id": "dev-1", "last_seq": 9, "now": NOW + 10}
    kw.update(over)
    return check_instruction(signed, trusted, **kw)  # type: ignore[arg-type]


def test_a_fresh_instruction_is_accepted(keys: tuple) -> None:
    key, trusted, _ = keys
    assert _check(sign_instruction(key, _inst()), trusted) == _inst()
    keep = _inst(sha256=None, version=None, security_counter=None, size=None)
    assert _check(sign_instruction(key, keep), trusted).sha256 is None


@pytest.mark.parametrize(
    ("over", "check", "why"),
    [
        ({}, {"device_id": "dev-2"}, "for device 'dev-1'"),  # another device's instruction
        ({}, {"last_seq": 10}, "not newer"),  # replayed
        ({}, {"last_seq": 11}, "not newer"),  # stale
        ({}, {"now": NOW + 3600 + CLOCK_SKEW_S + 1}, "expired"),  # freeze
        ({"issued_at": NOW + 2 * CLOCK_SKEW_S, "expires_at": NOW + 3600}, {}, "future"),
    ],
)
def test_refused(keys: tuple, over: dict, check: dict, why: str) -> None:
    key, trusted, _ = keys
    with pytest.raises(InstructionError, match=why):
        _check(sign_instruction(key, _inst(**over)), trusted, **check)


def test_untrusted_or_tampered_is_refused(keys: tuple) -> None:
    key, trusted, other = keys
    with pytest.raises(SignatureError, match="not trusted"):
        _check(sign_instruction(other, _inst()), trusted)
    good = sign_instruction(key, _inst())
    tampered = dataclasses.replace(good, payload=good.payload.replace(b'"seq":10', b'"seq":99'))
    with pytest.raises(SignatureError, match="invalid signature"):
        _check(tampered, trusted)


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"expires_at": NOW + MAX_VALIDITY_S + 1}, "valid for more"),
        ({"expires_at": NOW}, "after issued_at"),
        ({"seq": 0}, "seq"),
        ({"device_id": "dev-1\n"}, "device id"),
        ({"sha256": None}, "without a sha256"),
        ({"security_counter": 2**32}, "security_counter"),
        ({"issued_at": float("nan")}, "UNIX times"),
    ],
)
def test_the_signer_refuses_invalid_instructions(keys: tuple, over: dict, why: str) -> None:
    with pytest.raises(InstructionError, match=why):
        sign_instruction(keys[0], _inst(**over))


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=600))
def test_any_signed_bytes_are_refused_cleanly(keys: tuple, payload: bytes) -> None:
    """Even bytes signed by the trusted key (a compromised or buggy server) raise only InstructionError."""
    from tinyfleet.signing import sign

    key, trusted, _ = keys
    signed = SignedInstruction(payload, sign(key, payload), next(iter(trusted)))
    with pytest.raises(InstructionError):
        _check(signed, trusted)


def test_keys_folder_is_not_written_by_the_module(tmp_path: Path) -> None:
    """Pure functions: nothing here touches the file system (the import alone creates nothing)."""
    import tinyfleet.instruction  # noqa: F401

    assert list(tmp_path.iterdir()) == []
