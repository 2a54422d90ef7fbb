"""Golden vectors (`golden.bin`): inputs with the outputs TFLM gives, for on-device self-tests.

A little-endian header (:data:`HEADER_LAYOUT`, the one definition; docs/reference/ and the firmware's
constants are generated from it), then ``count`` records of input bytes followed by output bytes (int8).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from tinyfleet.device_manifest import Field, laid_out, struct_format
from tinyfleet.errors import PackageError

__all__ = [
    "GOLDEN_MAGIC",
    "HEADER",
    "HEADER_LAYOUT",
    "VERSION",
    "GoldenSet",
]

GOLDEN_MAGIC = b"TFGV"
VERSION = 1
HEADER_LAYOUT: tuple[Field, ...] = laid_out(
    Field("magic", "bytes", 4, '"TFGV"'),
    Field("version", "u16", 2, "format = 1"),
    Field("count", "u16", 2, "records (1..65535)"),
    Field("input_bytes", "u32", 4, "bytes of one input (int8)"),
    Field("output_bytes", "u32", 4, "bytes of one expected output (int8, TFLM's)"),
)
HEADER = struct.Struct(struct_format(HEADER_LAYOUT))


@dataclass(frozen=True)
class GoldenSet:
    inputs: np.ndarray  # int8, shape (count, input_bytes)
    outputs: np.ndarray  # int8, shape (count, output_bytes)

    def __post_init__(self) -> None:
        if self.inputs.dtype != np.int8 or self.outputs.dtype != np.int8:
            raise PackageError("golden vectors must be int8")
        if self.inputs.ndim != 2 or self.outputs.ndim != 2 or len(self.inputs) != len(self.outputs):
            raise PackageError(
                "golden vectors: inputs and outputs must be (count, bytes) arrays of equal count"
            )
        if not 0 < len(self.inputs) <= 0xFFFF:
            raise PackageError("golden vectors: count must be 1..65535")

    @property
    def count(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def input_bytes(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def output_bytes(self) -> int:
        return int(self.outputs.shape[1])

    def pack(self) -> bytes:
        parts = [HEADER.pack(GOLDEN_MAGIC, VERSION, self.count, self.input_bytes, self.output_bytes)]
        for x, y in zip(self.inputs, self.outputs, strict=True):
            parts.append(x.tobytes())
            parts.append(y.tobytes())
        return b"".join(parts)

    @classmethod
    def unpack(cls, data: bytes) -> GoldenSet:
        if len(data) < HEADER.size:
            raise PackageError("golden.bin is truncated")
        magic, version, count, nin, nout = HEADER.unpack_from(data)
        if magic != GOLDEN_MAGIC or version != VERSION:
            raise PackageError("golden.bin has a wrong magic or version")
        if len(data) != HEADER.size + count * (nin + nout) or count == 0 or nin == 0 or nout == 0:
            raise PackageError("golden.bin size does not match its header")
        body = np.frombuffer(data, dtype=np.int8, offset=HEADER.size).reshape(count, nin + nout)
        return cls(inputs=body[:, :nin].copy(), outputs=body[:, nin:].copy())

    def shifted(self) -> GoldenSet:
        """The same inputs with every expected output rotated by one class, so every arg-max moves.

        Fault injection: a release carrying these vectors fails its self-test on every device.
        """
        return GoldenSet(inputs=self.inputs, outputs=np.roll(self.outputs, 1, axis=1).astype(np.int8))

    def check(self, actual: np.ndarray, tolerance: int) -> tuple[bool, int]:
        """Compare a runtime's outputs (count, output_bytes) with the expected ones.

        Passes when every value is within ``tolerance`` and every arg-max agrees.
        Returns (passed, max_abs_diff).
        """
        got = np.asarray(actual, dtype=np.int8).reshape(self.outputs.shape)
        diff = int(np.max(np.abs(got.astype(np.int16) - self.outputs.astype(np.int16))))
        same_top = bool(np.all(np.argmax(got, axis=1) == np.argmax(self.outputs, axis=1)))
        return diff <= tolerance and same_top, diff
