"""What a `.tflite` file holds, read from its flatbuffer without an interpreter.

Used to list ops, to describe the input and output tensors, and to refuse files that are not
TFLite models or not full-integer int8 models before any runtime touches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinyfleet.errors import DataError

__all__ = ["TensorInfo", "TfliteInfo", "read_tflite"]

MAX_MODEL_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "float32", ...
    scale: float | None
    zero_point: int | None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= max(d, 1)
        return n

    def as_dict(self) -> dict[str, Any]:
        return {
            "shape": list(self.shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }


@dataclass(frozen=True)
class TfliteInfo:
    ops: tuple[str, ...]  # distinct builtin op names, in first-use order
    op_count: int  # operators in the graph
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    subgraphs: int
    float_tensors: int  # float32 tensors that are activations or weights of compute ops
    size: int

    @property
    def input(self) -> TensorInfo:
        return self.inputs[0]

    @property
    def output(self) -> TensorInfo:
        return self.outputs[0]

    def require_int8(self, what: str = "model") -> None:
        """Refuse anything but a full-integer int8 model with one int8 input and one int8 output."""
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise DataError(
                f"{what} has {len(self.inputs)} inputs and {len(self.outputs)} outputs; "
                "tinyfleet handles models with one input and one output"
            )
        bad = [
            f"{k} is {t.dtype}"
            for k, t in (("input", self.input), ("output", self.output))
            if t.dtype != "int8"
        ]
        if bad:
            raise DataError(
                f"{what} is not a full-integer int8 model ({', '.join(bad)}); quantize it with "
                "`tinyfleet model quantize` (int8 input and output, representative data)"
            )
        if self.float_tensors:
            raise DataError(
                f"{what} still computes in float ({self.float_tensors} float32 tensors): it is not "
                "full-integer int8 (dynamic-range quantization?)"
            )
        for t in (self.input, self.output):
            if t.scale is None or not t.scale > 0:
                raise DataError(f"{what}: {t.name} has no int8 quantization parameters")


MAX_TENSOR_ELEMENTS = 1 << 26

_TYPE_NAMES: dict[int, str] = {}
_BLOB_LEN = [0]  # the size of the buffer being parsed, for _count


def _count(n: int, what: str) -> int:
    """A flatbuffer vector length, refused when its 4-byte elements could not fit in the file."""
    if not 0 <= n <= _BLOB_LEN[0] // 4:
        raise DataError(f"damaged {what} vector (length {n})")
    return n


_OP_NAMES: dict[int, str] = {}


def _tables() -> Any:
    from ai_edge_litert import schema_py_generated as s

    if not _TYPE_NAMES:
        _TYPE_NAMES.update({v: k.lower() for k, v in vars(s.TensorType).items() if not k.startswith("_")})
        _OP_NAMES.update({v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")})
    return s


def read_tflite(blob: bytes, what: str = "model") -> TfliteInfo:
    """Parse ``blob``; raises DataError when it is not a readable TFLite flatbuffer."""
    if len(blob) > MAX_MODEL_BYTES:
        raise DataError(f"{what} is larger than {MAX_MODEL_BYTES} bytes")
    if len(blob) < 16 or blob[4:8] != b"TFL3":
        raise DataError(f"{what} is not a TFLite flatbuffer (no TFL3 identifier)")
    s = _tables()
    _BLOB_LEN[0] = len(blob)
    try:
        return _parse(s, blob)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - flatbuffers raises struct/index errors on damaged data
        raise DataError(f"{what} is a damaged TFLite flatbuffer ({type(exc).__name__})") from None


def _tensor(s: Any, sg: Any, idx: int) -> TensorInfo:
    if not 0 <= idx < _count(sg.TensorsLength(), "tensors"):
        raise DataError(f"tensor index {idx} out of range")
    t = sg.Tensors(idx)
    q = t.Quantization()
    scale = zp = None
    if q is not None and _count(q.ScaleLength(), "scale") > 0:
        scale = float(q.Scale(0))
        zp = int(q.ZeroPoint(0)) if q.ZeroPointLength() > 0 else 0
    name = t.Name()
    shape = tuple(int(t.Shape(i)) for i in range(_count(t.ShapeLength(), "shape")))
    elements = 1
    for d in shape:
        elements *= max(d, 1)
    if len(shape) > 8 or any(d < -1 for d in shape) or elements > MAX_TENSOR_ELEMENTS:
        raise DataError(f"tensor {idx} has an implausible shape {list(shape)[:8]}")
    return TensorInfo(
        name=name.decode("utf-8", "replace")[:200] if name else f"tensor{idx}",
        shape=shape,
        dtype=_TYPE_NAMES.get(t.Type(), f"type{t.Type()}"),
        scale=scale,
        zero_point=zp,
    )


def _parse(s: Any, blob: bytes) -> TfliteInfo:
    model = s.Model.GetRootAs(blob, 0)
    if _count(model.SubgraphsLength(), "subgraphs") < 1:
        raise DataError("model has no subgraph")
    codes = []
    for i in range(_count(model.OperatorCodesLength(), "operator codes")):
        oc = model.OperatorCodes(i)
        code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
        if code == s.BuiltinOperator.CUSTOM:
            custom = oc.CustomCode()
            codes.append("CUSTOM:" + (custom.decode("utf-8", "replace") if custom else "?"))
        else:
            codes.append(_OP_NAMES.get(code, f"BUILTIN_{code}"))
    ops: list[str] = []
    count = 0
    float_tensors: set[tuple[int, int]] = set()
    for g in range(model.SubgraphsLength()):
        sg = model.Subgraphs(g)
        for i in range(_count(sg.OperatorsLength(), "operators")):
            op = sg.Operators(i)
            idx = op.OpcodeIndex()
            if not 0 <= idx < len(codes):
                raise DataError(f"operator {i} names opcode {idx} of {len(codes)}")
            name = codes[idx]
            count += 1
            if name not in ops:
                ops.append(name)
            if name in ("QUANTIZE", "DEQUANTIZE"):
                continue
            n_in, n_out = _count(op.InputsLength(), "inputs"), _count(op.OutputsLength(), "outputs")
            for j in list(range(n_in)) + [None]:
                tensors = [op.Inputs(j)] if j is not None else [op.Outputs(k) for k in range(n_out)]
                for t in tensors:
                    if t >= 0 and _tensor(s, sg, t).dtype == "float32":
                        float_tensors.add((g, t))
    sg0 = model.Subgraphs(0)
    inputs = tuple(_tensor(s, sg0, sg0.Inputs(i)) for i in range(_count(sg0.InputsLength(), "inputs")))
    outputs = tuple(_tensor(s, sg0, sg0.Outputs(i)) for i in range(_count(sg0.OutputsLength(), "outputs")))
    if not inputs or not outputs:
        raise DataError("model has no input or no output tensor")
    return TfliteInfo(
        ops=tuple(ops),
        op_count=count,
        inputs=inputs,
        outputs=outputs,
        subgraphs=model.SubgraphsLength(),
        float_tensors=len(float_tensors),
        size=len(blob),
    )
