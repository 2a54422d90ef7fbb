"""Root-signed key lists (tinyfleet.trust), pure: the threshold counts distinct valid root keys,
and a list that is older, expired, re-trusting a revoked key or not canonical is refused."""

from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.signing import key_id, public_key_raw
from tinyfleet.trust import KeyList, SignedDoc, TrustError, check_key_list, make_root, sign_key_list

NOW = 1_800_000_000.0
ROOTS = [Ed25519PrivateKey.generate() for _ in range(3)]
ROOT = make_root([public_key_raw(k) for k in ROOTS], 2)
PKG = Ed25519PrivateKey.generate()
PKG_RAW = public_key_raw(PKG)


def _list(version: int = 2, **over: object) -> KeyList:
    base = KeyList(version, NOW + 3600, {key_id(PKG_RAW): PKG_RAW}, {})
    return dataclasses.replace(base, **over)  # type: ignore[arg-type]


def _check(doc: SignedDoc, current: int = 1, revoked: frozenset[str] = frozenset()) -> KeyList:
    return check_key_list(doc, ROOT, current_version=current, revoked=set(revoked), now=NOW)


def test_two_of_three_root_keys_are_enough() -> None:
    assert _check(sign_key_list(_list(), ROOTS[:2])).package_keys == {key_id(PKG_RAW): PKG_RAW}
    assert _check(sign_key_list(_list(), [ROOTS[0], ROOTS[2]])).version == 2


@pytest.mark.parametrize(
    "signers",
    [
        [ROOTS[0]],  # one is below the threshold
        [ROOTS[0], ROOTS[0]],  # the same key twice counts once
        [ROOTS[0], PKG],  # a non-root key does not count
    ],
)
def test_below_the_threshold_is_refused(signers: list[Ed25519PrivateKey]) -> None:
    with pytest.raises(TrustError, match="2 needed"):
        _check(sign_key_list(_list(), signers))


def test_a_forged_signature_does_not_count() -> None:
    good = sign_key_list(_list(), ROOTS[:2])
    forged = SignedDoc(good.payload, (good.signatures[0], (good.signatures[1][0], b"\0" * 64)))
    with pytest.raises(TrustError, match="1 valid root signature"):
        _check(forged)


def test_older_expired_and_revoked_again_are_refused() -> None:
    with pytest.raises(TrustError, match="not newer"):
        _check(sign_key_list(_list(version=1), ROOTS[:2]), current=1)
    with pytest.raises(TrustError, match="expired"):
        _check(sign_key_list(_list(expires_at=NOW - 1), ROOTS[:2]))
    with pytest.raises(TrustError, match="was revoked"):
        _check(sign_key_list(_list(), ROOTS[:2]), revoked=frozenset({key_id(PKG_RAW)}))
    with pytest.raises(TrustError, match="both trusted and revoked"):
        sign_key_list(_list(revoked=(key_id(PKG_RAW),)), ROOTS[:2])


def test_payload_must_be_canonical_and_ids_must_match_keys() -> None:
    good = sign_key_list(_list(), ROOTS[:2])
    spaced = json.dumps(json.loads(good.payload), indent=1).encode()
    resigned = SignedDoc(spaced, tuple((key_id(public_key_raw(k)), k.sign(spaced)) for k in ROOTS[:2]))
    with pytest.raises(TrustError, match="canonical"):
        _check(resigned)
    data = json.loads(good.payload)
    data["package_keys"] = {"0" * 16: PKG_RAW.hex()}
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    bad = SignedDoc(raw, tuple((key_id(public_key_raw(k)), k.sign(raw)) for k in ROOTS[:2]))
    with pytest.raises(TrustError, match="not the id of its public key"):
        _check(bad)
