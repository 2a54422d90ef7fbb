"""Captured samples: the upload format devices send and the dataset file the server keeps (docs/mlops.md).

**Sample batch** (device → server, the body of one HTTP upload), little-endian:

    offset 0  4 bytes  magic ``TFCS``
    offset 4  u16      format version = 1
    offset 6  u16      count (samples in this batch, ≥ 1)
    offset 8  u32      input_bytes (of one int8 input: the model's input tensor size)
    offset 12 u32      output_bytes (of one int8 output)
    then ``count`` records: int8 input × input_bytes, int8 output × output_bytes, i16 label
    (``-1``: unknown)

**Dataset version**: an ``.npz`` written canonically (members in a fixed order, stored, fixed
timestamps), so the same samples give the same bytes, and the version is the sha256 of those bytes.
Arrays: ``x`` int8 (N, *input_shape), ``outputs`` int8 (N, output_bytes), ``y`` int64 (N,) with -1 for
unknown labels, ``device`` (N,) device ids, and the scalars ``input_scale``, ``input_zero_point``,
``model`` (``NAME@VERSION``) and ``labels`` (class names). Pure functions; no I/O.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "BATCH_HEADER",
    "DATASET_ARRAYS",
    "FORMAT_VERSION",
    "LABEL_UNKNOWN",
    "MAGIC",
    "MAX_DATASET_SAMPLES",
    "TRIGGERS",
    "Batch",
    "CaptureFormatError",
    "dataset_version",
    "decode_batch",
    "encode_batch",
    "read_dataset",
    "record_bytes",
    "write_dataset",
]

MAGIC = b"TFCS"
FORMAT_VERSION = 1
BATCH_HEADER = struct.Struct("<4sHHII")
LABEL_UNKNOWN = -1
TRIGGERS = ("drift", "low_confidence", "random")
MAX_DATASET_SAMPLES = 1_000_000
DATASET_ARRAYS = ("x", "outputs", "y", "device", "input_scale", "input_zero_point", "model", "labels")


class CaptureFormatError(ValueError):
    """A batch or dataset file that does not follow the format above."""


@dataclass(frozen=True)
class Batch:
    inputs: np.ndarray  # int8 (n, input_bytes)
    outputs: np.ndarray  # int8 (n, output_bytes)
    labels: np.ndarray  # int16 (n,), -1 unknown

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def record_bytes(input_bytes: int, output_bytes: int) -> int:
    """Bytes one captured sample costs on the wire (input, output, label)."""
    return input_bytes + output_bytes + 2


def encode_batch(inputs: np.ndarray, outputs: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    x = np.ascontiguousarray(inputs, dtype=np.int8).reshape(len(inputs), -1)
    o = np.ascontiguousarray(outputs, dtype=np.int8).reshape(len(outputs), -1)
    n = x.shape[0]
    if n < 1 or n > 0xFFFF or o.shape[0] != n:
        raise CaptureFormatError(
            f"a batch holds 1..65535 samples with one output each (got {n}, {o.shape[0]})"
        )
    lab = np.full(n, LABEL_UNKNOWN, np.int16) if labels is None else np.asarray(labels, dtype=np.int16)
    if lab.shape != (n,):
        raise CaptureFormatError("one label per sample")
    rec = np.zeros(n, dtype=[("x", np.int8, (x.shape[1],)), ("o", np.int8, (o.shape[1],)), ("y", "<i2")])
    rec["x"], rec["o"], rec["y"] = x, o, lab
    return BATCH_HEADER.pack(MAGIC, FORMAT_VERSION, n, x.shape[1], o.shape[1]) + rec.tobytes()


def decode_batch(data: bytes, input_bytes: int, output_bytes: int, max_count: int) -> Batch:
    """Parse one upload; every size is checked against what the model and the request allow."""
    if len(data) < BATCH_HEADER.size:
        raise CaptureFormatError(
            f"batch of {len(data)} bytes is shorter than its {BATCH_HEADER.size}-byte header"
        )
    magic, version, count, ib, ob = BATCH_HEADER.unpack_from(data)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise CaptureFormatError("not a tinyfleet sample batch (magic TFCS, version 1)")
    if ib != input_bytes or ob != output_bytes:
        raise CaptureFormatError(
            f"batch records {ib}+{ob} bytes per input/output, the model has {input_bytes}+{output_bytes}"
        )
    if count < 1 or count > max_count:
        raise CaptureFormatError(f"batch holds {count} samples, 1..{max_count} allowed")
    size = record_bytes(ib, ob)
    if len(data) != BATCH_HEADER.size + count * size:
        raise CaptureFormatError(
            f"batch is {len(data)} bytes, {count} records need {BATCH_HEADER.size + count * size}"
        )
    rec = np.frombuffer(
        data, dtype=[("x", np.int8, (ib,)), ("o", np.int8, (ob,)), ("y", "<i2")], offset=BATCH_HEADER.size
    )
    labels = rec["y"].astype(np.int16)
    if np.any(labels < LABEL_UNKNOWN):
        raise CaptureFormatError("labels are class indices or -1 (unknown)")
    return Batch(rec["x"].copy(), rec["o"].copy(), labels)


def _member(zf: zipfile.ZipFile, name: str, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
    info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    zf.writestr(info, buf.getvalue(), compress_type=zipfile.ZIP_STORED)


def write_dataset(
    x: np.ndarray,
    outputs: np.ndarray,
    y: np.ndarray,
    device: np.ndarray,
    input_scale: float,
    input_zero_point: int,
    model: str,
    labels: list[str] | tuple[str, ...],
) -> bytes:
    """The canonical bytes of a dataset version (same arrays → same bytes → same version)."""
    n = len(x)
    if not (len(outputs) == len(y) == len(device) == n):
        raise CaptureFormatError("x, outputs, y and device must have one row per sample")
    arrays: dict[str, Any] = {
        "x": np.ascontiguousarray(x, dtype=np.int8),
        "outputs": np.ascontiguousarray(outputs, dtype=np.int8),
        "y": np.ascontiguousarray(y, dtype="<i8"),
        "device": np.asarray([str(d) for d in device], dtype="<U64"),
        "input_scale": np.float64(input_scale),
        "input_zero_point": np.int64(input_zero_point),
        "model": np.str_(model),
        "labels": np.asarray([str(s) for s in labels], dtype="<U64"),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name in DATASET_ARRAYS:
            _member(zf, name, arrays[name])
    return buf.getvalue()


def dataset_version(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def read_dataset(blob: bytes, origin: str = "dataset") -> dict[str, Any]:
    """Arrays of a dataset file, checked (shapes agree, dtypes as written, labels -1 or ≥ 0)."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            missing = [n for n in ("x", "y") if n not in z.files]
            if missing:
                raise CaptureFormatError(f"{origin} lacks array(s) {', '.join(missing)}")
            out = {n: np.asarray(z[n]) for n in z.files}
    except CaptureFormatError:
        raise
    except Exception as exc:  # numpy raises many types for a damaged file  # noqa: BLE001
        raise CaptureFormatError(f"{origin} is not a readable .npz file ({type(exc).__name__})") from None
    x, y = out["x"], out["y"]
    n = len(x)
    if x.dtype != np.int8 or x.ndim < 2 or not 1 <= n <= MAX_DATASET_SAMPLES:
        raise CaptureFormatError(f"{origin}: x must be int8 of shape (N, ...), 1 ≤ N ≤ {MAX_DATASET_SAMPLES}")
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or np.any(y < LABEL_UNKNOWN):
        raise CaptureFormatError(f"{origin}: y must hold one integer label per sample (-1: unknown)")
    out["y"] = y.astype(np.int64)
    for name in ("outputs", "device"):
        if name in out and len(out[name]) != n:
            raise CaptureFormatError(f"{origin}: {name} must have one row per sample")
    return out
