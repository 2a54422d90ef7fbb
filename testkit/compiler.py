"""Helpers behind the shared test fixtures `digits_package` and `digits_package_variant`.

``build_digits_package(folder)`` runs the real pipeline on ``examples/digits.toml`` once, signed with
a throwaway key made in ``folder/keys``. ``DigitsPackage.variant(...)`` re-signs the same trained
model as another version / security counter in well under a second, without retraining; with
``failing_selftest=True`` the golden outputs are changed (still validly signed) so an on-device
self-test must fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.fsutil import atomic_write_bytes
from tinyfleet.package import read_package, resign
from tinyfleet.signing import init_keys, load_signing_key, load_trusted_keys

__all__ = ["DigitsPackage", "build_digits_package", "repo_root"]


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DigitsPackage:
    package_path: Path  # the signed digits-1.0.0.tfpkg
    out_dir: Path  # the build folder: model.tflite, model.c/.h, ONNX, report.json, run files
    public_key_path: Path  # tinyfleet-signing.pub (64 hex characters)
    private_key_path: Path  # tinyfleet-signing.key (PKCS#8 PEM)
    keys_dir: Path  # folder holding both (use as TINYFLEET_KEYS)
    trusted_keys: dict[str, bytes]  # key id -> raw public key, for read_package(..., trusted_keys)
    manifest: dict[str, Any] = field(repr=False)

    @property
    def tflite_path(self) -> Path:
        return self.out_dir / "model.tflite"

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        return load_signing_key(self.private_key_path)

    def variant(
        self,
        version: str,
        security_counter: int,
        *,
        failing_selftest: bool = False,
        out: Path | None = None,
        name: str | None = None,
    ) -> Path:
        """The same model re-signed as ``version`` / ``security_counter``; returns the package path."""
        pkg = read_package(self.package_path, self.trusted_keys)
        blob = resign(
            pkg,
            self.signing_key,
            version=version,
            security_counter=security_counter,
            name=name,
            golden=pkg.golden.shifted() if failing_selftest else None,
        )
        suffix = "-badgolden" if failing_selftest else ""
        dest = (
            out
            or self.out_dir / "variants" / f"{name or pkg.name}-{version}-{security_counter}{suffix}.tfpkg"
        )
        return atomic_write_bytes(dest, blob)


def build_digits_package(folder: Path, spec_path: Path | None = None) -> DigitsPackage:
    """Build the digits example into ``folder/build`` with a new key pair in ``folder/keys``."""
    from tinyfleet.compiler.build import build
    from tinyfleet.compiler.spec import load_spec

    folder = Path(folder)
    priv, pub = init_keys(folder / "keys", force=True)
    spec = load_spec(spec_path or repo_root() / "examples" / "digits.toml")
    result = build(spec, folder / "build", load_signing_key(priv))
    trusted = load_trusted_keys([pub])
    manifest = read_package(result.package_path, trusted).manifest
    return DigitsPackage(
        package_path=result.package_path,
        out_dir=result.out_dir,
        public_key_path=pub,
        private_key_path=priv,
        keys_dir=folder / "keys",
        trusted_keys=trusted,
        manifest=manifest,
    )
