"""The device manifest (`device.bin`): what an MCU needs to accept a model, in 160 bytes.

Little-endian layout (also in docs/model-package.md):

    0   4  magic "TFDM"              52  4  model_size            124 4  arena_bytes
    4   2  format version (1)        56 32  model_sha256          128 4  input_bytes
    6   2  header size (160)         88  4  golden_size           132 4  output_bytes
    8   4  security_counter          92 32  golden_sha256         136 4  golden_count
    12  6  version major/minor/patch                              140 20 reserved (zero)
    18  2  flags (0)
    20 32  name (UTF-8, NUL-padded)

It is signed on its own (`device.sig`, Ed25519 over these 160 bytes), so a microcontroller can check
a model without parsing JSON. The OTA payload is `model.tflite` followed by `golden.bin`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tinyfleet.errors import PackageError

__all__ = ["DEVICE_MANIFEST_SIZE", "DeviceManifest", "parse_semver"]

MAGIC = b"TFDM"
FORMAT_VERSION = 1
DEVICE_MANIFEST_SIZE = 160
_LAYOUT = struct.Struct("<4sHHIHHHH32sI32sI32sIIII20s")
assert _LAYOUT.size == DEVICE_MANIFEST_SIZE


def parse_semver(version: str) -> tuple[int, int, int]:
    parts = version.split("-", 1)[0].split("+", 1)[0].split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise PackageError(f"version {version!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(p) for p in parts)
    if max(major, minor, patch) > 0xFFFF:
        raise PackageError(f"version {version!r}: each part must be at most 65535")
    return major, minor, patch


@dataclass(frozen=True)
class DeviceManifest:
    name: str
    version: tuple[int, int, int]
    security_counter: int
    model_size: int
    model_sha256: bytes
    golden_size: int
    golden_sha256: bytes
    arena_bytes: int
    input_bytes: int
    output_bytes: int
    golden_count: int
    flags: int = 0

    def pack(self) -> bytes:
        name = self.name.encode("utf-8")
        if not name or len(name) > 31:
            raise PackageError(f"model name {self.name!r} must be 1..31 UTF-8 bytes for the device manifest")
        for field in (
            "security_counter",
            "model_size",
            "golden_size",
            "arena_bytes",
            "input_bytes",
            "output_bytes",
            "golden_count",
        ):
            value = getattr(self, field)
            if not 0 <= value <= 0xFFFFFFFF:
                raise PackageError(f"device manifest: {field}={value} out of range")
        if len(self.model_sha256) != 32 or len(self.golden_sha256) != 32:
            raise PackageError("device manifest: digests must be 32 bytes")
        return _LAYOUT.pack(
            MAGIC,
            FORMAT_VERSION,
            DEVICE_MANIFEST_SIZE,
            self.security_counter,
            *self.version,
            self.flags,
            name.ljust(32, b"\0"),
            self.model_size,
            self.model_sha256,
            self.golden_size,
            self.golden_sha256,
            self.arena_bytes,
            self.input_bytes,
            self.output_bytes,
            self.golden_count,
            bytes(20),
        )

    @classmethod
    def unpack(cls, data: bytes) -> DeviceManifest:
        if len(data) != DEVICE_MANIFEST_SIZE:
            raise PackageError(f"device manifest has {len(data)} bytes, expected {DEVICE_MANIFEST_SIZE}")
        (
            magic,
            fmt,
            size,
            counter,
            major,
            minor,
            patch,
            flags,
            name,
            model_size,
            model_sha,
            golden_size,
            golden_sha,
            arena,
            nin,
            nout,
            gcount,
            reserved,
        ) = _LAYOUT.unpack(data)
        if magic != MAGIC or fmt != FORMAT_VERSION or size != DEVICE_MANIFEST_SIZE:
            raise PackageError("device manifest has a wrong magic, format or size")
        if any(reserved):
            raise PackageError("device manifest: reserved bytes are not zero")
        raw_name = name.rstrip(b"\0")
        if b"\0" in raw_name or not raw_name:
            raise PackageError("device manifest: malformed name")
        try:
            text = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            raise PackageError("device manifest: name is not UTF-8") from None
        return cls(
            text,
            (major, minor, patch),
            counter,
            model_size,
            model_sha,
            golden_size,
            golden_sha,
            arena,
            nin,
            nout,
            gcount,
            flags,
        )

    @property
    def version_str(self) -> str:
        return ".".join(str(p) for p in self.version)
