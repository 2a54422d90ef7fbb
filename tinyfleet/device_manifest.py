"""The device manifest (`device.bin`): what an MCU needs to accept a model, in 160 bytes.

:data:`LAYOUT` is the one definition of its little-endian layout: the struct format used here, the
table of docs/reference/device-bin.md and the C header the firmware reads it with
(``firmware/core/include/tf_device_manifest.h``, :func:`c_header`) are generated from it.

It is signed on its own (`device.sig`, Ed25519 over these 160 bytes), so a microcontroller can check
a model without parsing JSON. The OTA payload is `model.tflite` followed by `golden.bin`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tinyfleet.errors import PackageError

__all__ = [
    "DEVICE_MANIFEST_SIZE",
    "FORMAT_VERSION",
    "LAYOUT",
    "MAGIC",
    "DeviceManifest",
    "Field",
    "c_header",
    "laid_out",
    "parse_semver",
    "struct_format",
]

MAGIC = b"TFDM"
FORMAT_VERSION = 1
DEVICE_MANIFEST_SIZE = 160


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "u16", "u32" (little-endian) or "bytes"
    size: int
    meaning: str
    offset: int = 0


def laid_out(*fields: Field) -> tuple[Field, ...]:
    """The fields placed back to back from offset 0."""
    out, at = [], 0
    for f in fields:
        out.append(Field(f.name, f.kind, f.size, f.meaning, at))
        at += f.size
    return tuple(out)


LAYOUT: tuple[Field, ...] = laid_out(
    Field("magic", "bytes", 4, '"TFDM"'),
    Field("format_version", "u16", 2, "format of this layout = 1"),
    Field("header_size", "u16", 2, "size of device.bin = 160"),
    Field("security_counter", "u32", 4, "anti-rollback counter (manifest `security_counter`)"),
    Field("version_major", "u16", 2, "model version MAJOR"),
    Field("version_minor", "u16", 2, "model version MINOR"),
    Field("version_patch", "u16", 2, "model version PATCH"),
    Field("flags", "u16", 2, "0 (reserved for future use)"),
    Field("name", "bytes", 32, "model name, 1..31 bytes UTF-8, NUL-padded"),
    Field("model_size", "u32", 4, "bytes of model.tflite"),
    Field("model_sha256", "bytes", 32, "SHA-256 of model.tflite"),
    Field("golden_size", "u32", 4, "bytes of golden.bin"),
    Field("golden_sha256", "bytes", 32, "SHA-256 of golden.bin"),
    Field("arena_bytes", "u32", 4, "tensor arena the model needs (manifest `requirements.arena_bytes`)"),
    Field("input_bytes", "u32", 4, "bytes of one input (int8)"),
    Field("output_bytes", "u32", 4, "bytes of one output (int8)"),
    Field("golden_count", "u32", 4, "golden vectors in golden.bin (1..65535)"),
    Field("reserved", "bytes", 20, "zero"),
)
_FORMAT = {"u16": "H", "u32": "I"}


def struct_format(layout: tuple[Field, ...]) -> str:
    """The little-endian ``struct`` format of a layout."""
    return "<" + "".join(_FORMAT.get(f.kind, f"{f.size}s") for f in layout)


_LAYOUT = struct.Struct(struct_format(LAYOUT))
assert _LAYOUT.size == DEVICE_MANIFEST_SIZE == LAYOUT[-1].offset + LAYOUT[-1].size


def c_header(golden: tuple[Field, ...] = ()) -> str:
    """``tf_device_manifest.h``: the layout as C constants (offset and size of every field); with
    ``golden``, also the golden.bin header's (``TF_GV_*``)."""
    lines = [
        "/* Generated from tinyfleet/device_manifest.py (LAYOUT) by `python -m tinyfleet.reference`.",
        " * Do not edit: tests/contract/test_reference.py fails when this file and the Python layout differ.",
        " * device.bin, little-endian: the signed binary manifest of a model package. */",
        "#ifndef TF_DEVICE_MANIFEST_H",
        "#define TF_DEVICE_MANIFEST_H",
        "",
        f"#define TF_DM_SIZE {DEVICE_MANIFEST_SIZE}u",
        f"#define TF_DM_FORMAT_VERSION {FORMAT_VERSION}u",
        f'#define TF_DM_MAGIC "{MAGIC.decode()}"',
        "",
    ]
    for prefix, layout in (("TF_DM", LAYOUT), ("TF_GV", golden)):
        if prefix == "TF_GV" and layout:
            size = layout[-1].offset + layout[-1].size
            lines += [
                "",
                "/* golden.bin header (tinyfleet/golden.py), then count x (input, output) int8 records */",
            ]
            lines.append(f"#define TF_GV_HEADER_SIZE {size}u")
        for f in layout:
            upper = f.name.upper()
            lines.append(f"#define {prefix}_{upper}_OFF {f.offset}u /* {f.kind}: {f.meaning} */")
            lines.append(f"#define {prefix}_{upper}_LEN {f.size}u")
    lines += ["", "#endif", ""]
    return "\n".join(lines)


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
