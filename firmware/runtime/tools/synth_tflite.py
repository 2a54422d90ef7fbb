"""Hand-built single-operator int8 .tflite models (TFLite schema object API, no TensorFlow).

For operators the Keras converter does not emit on its own (SQUEEZE, standalone RELU/RELU6,
QUANTIZE int8 -> int8 requantization), and as the well-formed seed corpus of the model-parser
fuzzer and the C unit tests: ``python synth_tflite.py OUTDIR`` writes them as OUTDIR/*.tflite.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s


@dataclass
class Q:
    """A tensor: shape and int8 quantization, or a constant (int32 values, or int8 weights with
    per-channel `scales` along `axis`)."""

    shape: tuple[int, ...]
    scale: float = 0.05
    zero_point: int = 0
    const_i32: list[int] | None = None
    const_i8: np.ndarray | None = None
    scales: list[float] = field(default_factory=list)
    axis: int = 0
    dtype: int = s.TensorType.INT8


def _tensor(i: int, q: Q, buffer: int) -> Any:
    t = s.TensorT()
    t.shape = list(q.shape)
    t.name = f"t{i}".encode()
    t.buffer = buffer
    if q.const_i32 is not None:
        t.type = s.TensorType.INT32
    else:
        t.type = q.dtype
        qp = s.QuantizationParametersT()
        qp.scale = list(q.scales) if q.scales else [q.scale]
        qp.zeroPoint = [0] * len(q.scales) if q.scales else [q.zero_point]
        qp.quantizedDimension = q.axis
        t.quantization = qp
    return t


def single_op_model(
    op: str,
    inputs: list[Q],
    output: Q,
    options_type: int = 0,
    options: Any = None,
    op_inputs: list[int] | None = None,
) -> bytes:
    """A model whose graph is one operator: input 0 is the graph input, the others constants."""
    code = getattr(s.BuiltinOperator, op)
    model = s.ModelT()
    model.version = 3
    oc = s.OperatorCodeT()
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, 127)
    oc.version = 1
    model.operatorCodes = [oc]
    empty = s.BufferT()
    buffers = [empty]
    tensors = []
    for i, q in enumerate([*inputs, output]):
        b = s.BufferT()
        if q.const_i32 is not None:
            b.data = list(np.asarray(q.const_i32, "<i4").tobytes())
        elif q.const_i8 is not None:
            b.data = list(np.asarray(q.const_i8, np.int8).tobytes())
        buffers.append(b)
        tensors.append(_tensor(i, q, len(buffers) - 1))
    operator = s.OperatorT()
    operator.opcodeIndex = 0
    operator.inputs = list(range(len(inputs))) if op_inputs is None else op_inputs
    operator.outputs = [len(inputs)]
    operator.builtinOptionsType = options_type
    operator.builtinOptions = options
    sg = s.SubGraphT()
    sg.tensors = tensors
    sg.inputs = [0]
    sg.outputs = [len(inputs)]
    sg.operators = [operator]
    model.subgraphs = [sg]
    model.buffers = buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def squeeze_model() -> bytes:
    opts = s.SqueezeOptionsT()
    opts.squeezeDims = [0, 2]
    return single_op_model(
        "SQUEEZE",
        [Q((1, 4, 1, 6), 0.1, 3)],
        Q((4, 6), 0.1, 3),
        s.BuiltinOptions.SqueezeOptions,
        opts,
    )


def requantize_model(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> bytes:
    return single_op_model("QUANTIZE", [Q((2, 5, 7), in_scale, in_zp)], Q((2, 5, 7), out_scale, out_zp))


def relu_model(op: str, in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> bytes:
    return single_op_model(op, [Q((3, 33), in_scale, in_zp)], Q((3, 33), out_scale, out_zp))


def expand_dims_model() -> bytes:
    return single_op_model(
        "EXPAND_DIMS",
        [Q((3, 5), 0.2, -7), Q((), const_i32=[1])],
        Q((3, 1, 5), 0.2, -7),
    )


def mean_model(axes: list[int], keep_dims: bool, same_quant: bool) -> bytes:
    """MEAN of a (1, 4, 5, 6) tensor over `axes`; output quantization equal to the input's or not."""
    in_shape = (1, 4, 5, 6)
    out_shape = tuple((1 if keep_dims else None) if i in axes else d for i, d in enumerate(in_shape))
    shape = tuple(d for d in out_shape if d is not None)
    out = Q(shape, 0.1, 3) if same_quant else Q(shape, 0.037, -11)
    opts = s.ReducerOptionsT()
    opts.keepDims = keep_dims
    return single_op_model(
        "MEAN",
        [Q(in_shape, 0.1, 3), Q((len(axes),), const_i32=axes)],
        out,
        s.BuiltinOptions.ReducerOptions,
        opts,
    )


def absent_input_model() -> bytes:
    """A RELU whose only input is marked absent (-1): malformed, must be refused."""
    return single_op_model("RELU", [Q((1, 8), 0.1, 0)], Q((1, 8), 0.1, 0), op_inputs=[-1])


def unsupported_model() -> bytes:
    """A TANH model: valid, but not an operator the micro runtime runs."""
    return single_op_model("TANH", [Q((1, 8), 0.1, 0)], Q((1, 8), 1 / 128, 0))


def conv_model(seed: int = 0, depthwise: bool = False) -> bytes:
    """A 3x3 stride-2 SAME convolution (per-channel weights, int32 bias, fused RELU6)."""
    rng = np.random.default_rng(seed)
    cin, cout = 3, 6
    wshape = (1, 3, 3, cout) if depthwise else (cout, 3, 3, cin)
    w = rng.integers(-127, 128, size=wshape, dtype=np.int8)
    scales = [float(v) for v in rng.uniform(0.002, 0.02, size=cout)]
    bias = [int(v) for v in rng.integers(-2000, 2000, size=cout)]
    if depthwise:
        opts: Any = s.DepthwiseConv2DOptionsT()
        opts.depthMultiplier = 2
        otype = s.BuiltinOptions.DepthwiseConv2DOptions
    else:
        opts = s.Conv2DOptionsT()
        otype = s.BuiltinOptions.Conv2DOptions
    opts.padding = s.Padding.SAME
    opts.strideW = opts.strideH = 2
    opts.fusedActivationFunction = s.ActivationFunctionType.RELU6
    return single_op_model(
        "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D",
        [
            Q((1, 9, 8, cin), 0.04, -3),
            Q(wshape, const_i8=w, scales=scales, axis=3 if depthwise else 0),
            Q((cout,), const_i32=bias),
        ],
        Q((1, 5, 4, cout), 0.03, -128),
        otype,
        opts,
    )


def seed_models() -> dict[str, bytes]:
    """The well-formed models the parser fuzzer and the C unit tests start from."""
    return {
        "conv": conv_model(0),
        "dwconv": conv_model(1, depthwise=True),
        "squeeze": squeeze_model(),
        "expand_dims": expand_dims_model(),
        "requantize": requantize_model(0.05, 3, 0.013, -20),
        "relu": relu_model("RELU", 0.05, 3, 0.03, -128),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: synth_tflite.py OUTDIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, blob in seed_models().items():
        tmp = out / f"{name}.part"
        tmp.write_bytes(blob)
        tmp.replace(out / f"{name}.tflite")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
