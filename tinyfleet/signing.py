"""Ed25519 signing keys (RFC 8032, SHA-512) for model packages.

Files in a keys folder (``$TINYFLEET_KEYS``, default ``~/.tinyfleet/keys``):

- ``tinyfleet-signing.key``: the private key, PKCS#8 PEM, mode 0600;
- ``tinyfleet-signing.pub``: the raw 32-byte public key as 64 hex characters and a newline.

A key's id is the first 16 hex characters of sha256(raw public key). The firmware verifies the
same signatures with Monocypher's crypto_ed25519_check (standard Ed25519 over SHA-512).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tinyfleet.errors import SignatureError, UsageError
from tinyfleet.fsutil import atomic_write_bytes, atomic_write_text

__all__ = [
    "PRIVATE_NAME",
    "PUBLIC_NAME",
    "SIGNATURE_BYTES",
    "default_keys_dir",
    "init_keys",
    "key_id",
    "load_signing_key",
    "load_trusted_keys",
    "public_key_raw",
    "read_public_key_file",
    "sign",
    "verify",
]

PRIVATE_NAME = "tinyfleet-signing.key"
PUBLIC_NAME = "tinyfleet-signing.pub"
SIGNATURE_BYTES = 64


def default_keys_dir() -> Path:
    env = os.environ.get("TINYFLEET_KEYS")
    return Path(env).expanduser() if env else Path.home() / ".tinyfleet" / "keys"


def key_id(raw_public_key: bytes) -> str:
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


def public_key_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def init_keys(directory: Path | None = None, force: bool = False) -> tuple[Path, Path]:
    """Make a new key pair; refuses to overwrite an existing private key unless ``force``."""
    d = Path(directory) if directory else default_keys_dir()
    priv_path, pub_path = d / PRIVATE_NAME, d / PUBLIC_NAME
    if priv_path.exists() and not force:
        raise UsageError(
            f"{priv_path} exists; pass --force to replace it (packages signed with it stay valid only for holders of its public key)"
        )
    d.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    atomic_write_bytes(priv_path, pem, mode=0o600)
    atomic_write_text(pub_path, public_key_raw(key).hex() + "\n", mode=0o644)
    return priv_path, pub_path


def load_signing_key(path: Path | None = None) -> Ed25519PrivateKey:
    p = Path(path) if path else default_keys_dir() / PRIVATE_NAME
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no signing key at {p}; run `tinyfleet keys init` or pass --key") from None
    except OSError as exc:
        raise UsageError(f"cannot read signing key {p}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise UsageError(f"{p} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{p} is not an Ed25519 private key")
    return key


def read_public_key_file(path: Path) -> bytes:
    """Read a public key file: 64 hex characters (our format) or a PEM public key."""
    try:
        text = Path(path).read_text("utf-8", errors="replace").strip()
    except FileNotFoundError:
        raise UsageError(f"no public key at {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read public key {path}: {exc.strerror}") from None
    if text.startswith("-----BEGIN"):
        try:
            pub = serialization.load_pem_public_key(text.encode())
        except ValueError:
            raise UsageError(f"{path} is not a valid PEM public key") from None
        if not isinstance(pub, Ed25519PublicKey):
            raise UsageError(f"{path} is not an Ed25519 public key")
        return public_key_raw(pub)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise UsageError(f"{path} is not an Ed25519 public key (expected 64 hex characters)")
    return raw


def load_trusted_keys(paths: Iterable[Path] | None = None) -> dict[str, bytes]:
    """key id -> raw public key. Default: every ``*.pub`` in the default keys folder."""
    if paths is None:
        d = default_keys_dir()
        paths = sorted(d.glob("*.pub")) if d.is_dir() else []
    keys = {}
    for p in paths:
        raw = read_public_key_file(Path(p))
        keys[key_id(raw)] = raw
    return keys


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verify(trusted: Mapping[str, bytes], kid: str, data: bytes, signature: bytes, what: str = "data") -> None:
    """Raise SignatureError unless ``signature`` over ``data`` is valid for trusted key ``kid``."""
    if not trusted:
        raise SignatureError("no trusted public key configured; pass --pubkey or run `tinyfleet keys init`")
    raw = trusted.get(kid)
    if raw is None:
        raise SignatureError(
            f"{what} is signed by key {kid}, which is not trusted (trusted: {', '.join(sorted(trusted))})"
        )
    if len(signature) != SIGNATURE_BYTES:
        raise SignatureError(f"{what}: signature has {len(signature)} bytes, expected {SIGNATURE_BYTES}")
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)
    except InvalidSignature:
        raise SignatureError(f"{what}: invalid signature for key {kid}") from None
