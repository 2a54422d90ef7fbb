"""Multiply-accumulates of an int8 `.tflite`, counted from its flatbuffer (no interpreter).

CONV_2D: every output element needs kh × kw × (input channels per group) MACs; DEPTHWISE_CONV_2D:
kh × kw per output element; FULLY_CONNECTED: the input features per output element. Other ops
(pooling, ADD, MUL, ...) are not counted as MACs, as in the MLPerf Tiny papers.
"""

from __future__ import annotations

from typing import Any

from tinyfleet.errors import DataError

__all__ = ["count_macs"]


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as s

    return s


def _shape(sg: Any, idx: int) -> tuple[int, ...]:
    if not 0 <= idx < sg.TensorsLength():
        raise DataError(f"tensor index {idx} out of range")
    t = sg.Tensors(idx)
    return tuple(int(t.Shape(i)) for i in range(t.ShapeLength()))


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= max(d, 1)
    return n


def count_macs(blob: bytes) -> int:
    """Total MACs of one inference of the first subgraph."""
    if len(blob) < 16 or blob[4:8] != b"TFL3":
        raise DataError("not a TFLite flatbuffer (no TFL3 identifier)")
    s = _schema()
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    try:
        model = s.Model.GetRootAs(blob, 0)
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            codes.append(names.get(max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode())), "?"))
        sg = model.Subgraphs(0)
        total = 0
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            name = codes[op.OpcodeIndex()]
            if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                continue
            weights = _shape(sg, op.Inputs(1))
            out = _shape(sg, op.Outputs(0))
            if name == "CONV_2D":  # weights [out_c, kh, kw, in_c / groups]
                total += _prod(out) * weights[1] * weights[2] * weights[3]
            elif name == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, out_c]
                total += _prod(out) * weights[1] * weights[2]
            else:  # weights [units, features]
                total += _prod(out) * weights[-1]
        return total
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged flatbuffer: struct/index errors
        raise DataError(f"damaged TFLite flatbuffer ({type(exc).__name__})") from None
