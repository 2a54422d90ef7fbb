"""The signed model package (`.tfpkg`): the contract between compiler, server, agent and firmware.

A ZIP archive (stored, fixed timestamps and attributes, members in a fixed order):

    manifest.json   canonical JSON: name, version, security_counter, boards, tensors, golden, metrics,
                    requirements, drift baseline, key_id, and an `artifacts` table with the sha256 and
                    size of every other member
    manifest.sig    Ed25519 signature (64 bytes) of manifest.json
    device.bin      the 160-byte binary manifest for MCUs (tinyfleet.device_manifest)
    device.sig      Ed25519 signature (64 bytes) of device.bin
    model.tflite, golden.bin, ...   the artifacts

A reader checks the signature with a trusted key, every digest and size, that device.bin agrees
with manifest.json, and that the file is byte for byte the canonical encoding of its members; so a
change of any byte anywhere in the file is refused. Full contract: docs/model-package.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.device_manifest import DeviceManifest
from tinyfleet.errors import PackageError
from tinyfleet.fsutil import atomic_write_bytes
from tinyfleet.golden import GoldenSet
from tinyfleet.manifest import SCHEMA, Manifest, ManifestBody, parse_manifest
from tinyfleet.pkgzip import StoredArchive
from tinyfleet.signing import key_id, load_trusted_keys, public_key_raw, sign, verify

__all__ = [
    "MAX_MANIFEST_BYTES",
    "MAX_PACKAGE_BYTES",
    "SCHEMA",
    "ModelPackage",
    "build_package",
    "canonical_json",
    "read_package",
    "resign",
    "write_package",
]

MAX_PACKAGE_BYTES = 256 * 1024 * 1024
MAX_MANIFEST_BYTES = 256 * 1024  # a real manifest.json is a few KiB
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_HEAD = ("manifest.json", "manifest.sig", "device.bin", "device.sig")
_REQUIRED_ARTIFACTS = ("model.tflite", "golden.bin")
_MEMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ModelPackage:
    """A package whose signature, digests and encoding have been verified.

    ``meta`` is the typed manifest (tinyfleet.manifest); ``manifest`` the signed JSON as read.
    """

    manifest: dict[str, Any]
    members: dict[str, bytes] = field(repr=False)
    raw: bytes = field(repr=False)
    meta: Manifest = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.meta is None:
            object.__setattr__(self, "meta", parse_manifest(self.manifest, Manifest))

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def version(self) -> str:
        return self.meta.version

    @property
    def security_counter(self) -> int:
        return self.meta.security_counter

    @property
    def key_id(self) -> str:
        return self.meta.key_id

    @property
    def boards(self) -> list[str]:
        return list(self.meta.boards)

    @cached_property
    def sha256(self) -> str:
        """Digest of the whole package file (its content address)."""
        return _sha256(self.raw)

    @property
    def size(self) -> int:
        return len(self.raw)

    def artifact(self, name: str) -> bytes:
        try:
            return self.members[name]
        except KeyError:
            raise PackageError(f"package {self.name} {self.version} has no artifact {name!r}") from None

    @property
    def device_manifest_bytes(self) -> bytes:
        return self.members["device.bin"]

    @property
    def device_sig(self) -> bytes:
        return self.members["device.sig"]

    @cached_property
    def device_manifest(self) -> DeviceManifest:
        return DeviceManifest.unpack(self.members["device.bin"])

    @cached_property
    def golden(self) -> GoldenSet:
        return GoldenSet.unpack(self.members["golden.bin"])

    def ota_payload(self) -> bytes:
        """What an MCU slot receives: model.tflite followed by golden.bin."""
        return self.members["model.tflite"] + self.members["golden.bin"]


_BODY_FIELDS = frozenset(ManifestBody.__struct_fields__)


def _manifest_body(manifest: ManifestBody | Mapping[str, Any]) -> ManifestBody:
    """The writer's manifest, checked; a key the model does not know is refused (a typo is not signed)."""
    data: Mapping[str, Any] = (
        msgspec.to_builtins(manifest) if isinstance(manifest, ManifestBody) else manifest
    )
    unknown = sorted(set(data) - _BODY_FIELDS - {"schema", "key_id", "artifacts"})
    if unknown:
        raise PackageError(f"manifest: {unknown[0]}: not a manifest field (tinyfleet.manifest.ManifestBody)")
    given = {k: v for k, v in data.items() if k in _BODY_FIELDS}
    body = parse_manifest(given, ManifestBody)
    lost = _dropped_key(given, msgspec.to_builtins(body), "")
    if lost:
        raise PackageError(f"manifest: {lost}: not a manifest field (tinyfleet.manifest)")
    return body


def _dropped_key(given: Any, kept: Any, path: str) -> str:
    """The first key of ``given`` (a nested part) that the typed model would leave out when signing."""
    if isinstance(given, Mapping) and isinstance(kept, Mapping):
        for k, v in given.items():
            where = f"{path}.{k}" if path else str(k)
            if k not in kept:
                if v is not None:
                    return where
            elif lost := _dropped_key(v, kept[k], where):
                return lost
    elif isinstance(given, list | tuple) and isinstance(kept, list):
        for i, (g, k) in enumerate(zip(given, kept, strict=False)):
            if lost := _dropped_key(g, k, f"{path}[{i}]"):
                return lost
    return ""


def build_package(
    manifest: ManifestBody | Mapping[str, Any], artifacts: Mapping[str, bytes], signing_key: Ed25519PrivateKey
) -> bytes:
    """Sign and encode a package. ``manifest`` is completed with schema, key_id and the artifacts table."""
    for name in _REQUIRED_ARTIFACTS:
        if name not in artifacts:
            raise PackageError(f"package needs the artifact {name}")
    for name in artifacts:
        if name in _HEAD or not _MEMBER_RE.match(name):
            raise PackageError(f"invalid artifact name {name!r}")
    body = _manifest_body(manifest)
    _check_flash_bytes(body.requirements.flash_bytes, artifacts)
    m: dict[str, Any] = msgspec.to_builtins(body)
    golden = GoldenSet.unpack(artifacts["golden.bin"])
    if body.golden.count != golden.count:
        raise PackageError(
            f"manifest: golden.count: {body.golden.count}, but golden.bin holds {golden.count}"
        )
    model = artifacts["model.tflite"]
    device = DeviceManifest(
        name=body.name,
        version=body.semver,
        security_counter=body.security_counter,
        model_size=len(model),
        model_sha256=hashlib.sha256(model).digest(),
        golden_size=len(artifacts["golden.bin"]),
        golden_sha256=hashlib.sha256(artifacts["golden.bin"]).digest(),
        arena_bytes=body.requirements.arena_bytes,
        input_bytes=golden.input_bytes,
        output_bytes=golden.output_bytes,
        golden_count=golden.count,
    ).pack()
    members: dict[str, bytes] = {"device.bin": device, "device.sig": sign(signing_key, device)}
    members.update({k: bytes(v) for k, v in sorted(artifacts.items())})
    m["schema"] = SCHEMA
    m["key_id"] = key_id(public_key_raw(signing_key))
    m["artifacts"] = {k: {"sha256": _sha256(v), "size": len(v)} for k, v in members.items()}
    manifest_bytes = canonical_json(m)
    parse_manifest(json.loads(manifest_bytes), Manifest)  # what every reader will check
    members = {"manifest.json": manifest_bytes, "manifest.sig": sign(signing_key, manifest_bytes), **members}
    return _encode(members)


def resign(
    pkg: ModelPackage,
    signing_key: Ed25519PrivateKey,
    *,
    version: str,
    security_counter: int,
    name: str | None = None,
    golden: GoldenSet | None = None,
) -> bytes:
    """The same model as another release: a new version / counter (and name or golden vectors), signed anew."""
    manifest = {k: v for k, v in pkg.manifest.items() if k not in ("schema", "key_id", "artifacts")}
    manifest.update(version=version, security_counter=security_counter)
    if name:
        manifest["name"] = name
    artifacts = {k: v for k, v in pkg.members.items() if k not in _HEAD}
    if golden is not None:
        artifacts["golden.bin"] = golden.pack()
    return build_package(manifest, artifacts, signing_key)


def write_package(
    path: str | Path,
    manifest: ManifestBody | Mapping[str, Any],
    artifacts: Mapping[str, bytes],
    signing_key: Ed25519PrivateKey,
) -> Path:
    return atomic_write_bytes(path, build_package(manifest, artifacts, signing_key))


def _member_order(names: list[str]) -> list[str]:
    return list(_HEAD) + sorted(n for n in names if n not in _HEAD)


def _encode(members: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in _member_order(list(members)):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            zf.writestr(info, members[name])
    return buf.getvalue()


def read_package(source: str | Path | bytes, trusted_keys: Mapping[str, bytes] | None = None) -> ModelPackage:
    """Read and fully verify a package; raises PackageError or SignatureError.

    ``trusted_keys`` maps key id -> raw public key; None means the keys in the default keys folder.
    """
    raw = _load_bytes(source)
    # the archive layout from the central directory alone; then only the manifest and its signature
    # are read and checked before any other member is touched (pkgzip: no zip bomb gets inflated)
    archive = StoredArchive(raw, _HEAD, _MEMBER_RE)
    manifest_bytes = archive.read("manifest.json", cap=MAX_MANIFEST_BYTES)
    members = {"manifest.json": manifest_bytes, "manifest.sig": archive.read("manifest.sig", cap=64)}
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PackageError("manifest.json is not valid JSON") from None
    except RecursionError:
        raise PackageError("manifest.json is nested too deeply") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise PackageError(f"not a {SCHEMA} manifest")
    kid = manifest.get("key_id")
    if not isinstance(kid, str):
        raise PackageError("manifest has no key_id")
    trusted = load_trusted_keys() if trusted_keys is None else trusted_keys
    verify(trusted, kid, manifest_bytes, members["manifest.sig"], what="manifest.json")
    meta = parse_manifest(manifest, Manifest)
    if set(meta.artifacts) != set(archive.names) - {"manifest.json", "manifest.sig"}:
        raise PackageError("manifest's artifacts table does not match the package members")
    for name, entry in meta.artifacts.items():
        if entry.size != archive.size(name):  # the signed size, before the member is read
            raise PackageError(f"artifact {name} does not match its digest in the manifest")
    for name, entry in meta.artifacts.items():
        data = members[name] = archive.read(name, cap=entry.size)
        if entry.sha256 != _sha256(data):
            raise PackageError(f"artifact {name} does not match its digest in the manifest")
    if _encode(members) != raw:
        raise PackageError("package is not in canonical form (modified or not written by tinyfleet)")
    _check_flash_bytes(meta.requirements.flash_bytes, members)
    verify(trusted, kid, members["device.bin"], members["device.sig"], what="device.bin")
    pkg = ModelPackage(manifest=manifest, members=members, raw=raw, meta=meta)
    _check_device_manifest(pkg)
    return pkg


def _check_flash_bytes(flash_bytes: int, members: Mapping[str, bytes]) -> None:
    """``requirements.flash_bytes`` is what a model slot must hold (board compatibility is decided on
    it), so it may not claim less than model.tflite + golden.bin (more is only conservative)."""
    actual = len(members["model.tflite"]) + len(members["golden.bin"])
    if flash_bytes < actual:
        raise PackageError(
            f"manifest: requirements.flash_bytes is {flash_bytes}, less than model.tflite + golden.bin "
            f"({actual} bytes)"
        )


def _check_device_manifest(pkg: ModelPackage) -> None:
    d = pkg.device_manifest
    golden = pkg.golden
    model = pkg.members["model.tflite"]
    expected = (
        d.name == pkg.name
        and d.version == pkg.meta.semver
        and d.security_counter == pkg.security_counter
        and d.model_size == len(model)
        and d.model_sha256 == hashlib.sha256(model).digest()
        and d.golden_sha256 == hashlib.sha256(pkg.members["golden.bin"]).digest()
        and d.arena_bytes == pkg.meta.requirements.arena_bytes
        and (d.input_bytes, d.output_bytes, d.golden_count)
        == (golden.input_bytes, golden.output_bytes, golden.count)
        and pkg.meta.golden.count == golden.count
    )
    if not expected:
        raise PackageError("device.bin does not agree with manifest.json")


def _load_bytes(source: str | Path | bytes) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        raw = bytes(source)
    else:
        p = Path(source)
        try:
            if p.stat().st_size > MAX_PACKAGE_BYTES:
                raise PackageError(f"{p} is larger than {MAX_PACKAGE_BYTES} bytes")
            raw = p.read_bytes()
        except FileNotFoundError:
            raise PackageError(f"no package at {p}") from None
        except IsADirectoryError:
            raise PackageError(f"{p} is a directory, not a package") from None
        except OSError as exc:
            raise PackageError(f"cannot read {p}: {exc.strerror}") from None
    if len(raw) > MAX_PACKAGE_BYTES:
        raise PackageError(f"package is larger than {MAX_PACKAGE_BYTES} bytes")
    return raw
