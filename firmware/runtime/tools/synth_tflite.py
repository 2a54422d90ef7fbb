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


# ---- operator variants the Keras converter rarely emits, each checked against TFLM ----


def strided_slice_model(
    begin: list[int],
    end: list[int],
    strides: list[int],
    out: tuple[int, ...],
    masks: tuple[int, int, int] = (0, 0, 0),
) -> bytes:
    opts = s.StridedSliceOptionsT()
    opts.beginMask, opts.endMask, opts.shrinkAxisMask = masks
    n = len(begin)
    return single_op_model(
        "STRIDED_SLICE",
        [Q((2, 5, 6), 0.1, 2), Q((n,), const_i32=begin), Q((n,), const_i32=end), Q((n,), const_i32=strides)],
        Q(out, 0.1, 2),
        s.BuiltinOptions.StridedSliceOptions,
        opts,
    )


def binary_model(
    op: str, a_shape: tuple[int, ...], b_shape: tuple[int, ...], act: int = 0, seed: int = 0
) -> bytes:
    """ADD or MUL of the graph input with an int8 constant, numpy broadcasting."""
    rng = np.random.default_rng(seed)
    out_shape = tuple(int(d) for d in np.broadcast_shapes(a_shape, b_shape))
    opts: Any = s.AddOptionsT() if op == "ADD" else s.MulOptionsT()
    opts.fusedActivationFunction = act
    otype = s.BuiltinOptions.AddOptions if op == "ADD" else s.BuiltinOptions.MulOptions
    b = Q(b_shape, 0.07, -5, const_i8=rng.integers(-128, 128, size=b_shape, dtype=np.int8))
    out = Q(out_shape, 0.09 if op == "ADD" else 0.2, -7)
    return single_op_model(op, [Q(a_shape, 0.05, 3), b], out, otype, opts)


def concat_model(axis: int, pack: bool = False, seed: int = 0) -> bytes:
    """CONCATENATION (or PACK) of the graph input with an int8 constant along `axis`."""
    rng = np.random.default_rng(seed)
    shape = [2, 3, 4] if not pack else [3, 4]
    other = list(shape)
    if not pack:
        other[axis] = 2
    out = list(shape)
    if pack:
        out.insert(axis, 2)
        opts: Any = s.PackOptionsT()
        opts.axis, opts.valuesCount = axis, 2
        otype = s.BuiltinOptions.PackOptions
    else:
        out[axis] += 2
        opts = s.ConcatenationOptionsT()
        opts.axis = axis
        otype = s.BuiltinOptions.ConcatenationOptions
    const = Q(tuple(other), 0.1, 1, const_i8=rng.integers(-128, 128, size=other, dtype=np.int8))
    return single_op_model(
        "PACK" if pack else "CONCATENATION",
        [Q(tuple(shape), 0.1, 1), const],
        Q(tuple(out), 0.1, 1),
        otype,
        opts,
    )


def softmax_model(beta: float, in_scale: float) -> bytes:
    opts = s.SoftmaxOptionsT()
    opts.beta = beta
    return single_op_model(
        "SOFTMAX", [Q((3, 7), in_scale, 5)], Q((3, 7), 1 / 256, -128), s.BuiltinOptions.SoftmaxOptions, opts
    )


def logistic_model(in_scale: float, in_zp: int) -> bytes:
    return single_op_model("LOGISTIC", [Q((4, 16), in_scale, in_zp)], Q((4, 16), 1 / 256, -128))


def pad_model(paddings: list[tuple[int, int]], shape: tuple[int, ...] = (1, 3, 4, 2)) -> bytes:
    out = tuple(d + a + b for d, (a, b) in zip(shape, paddings, strict=True))
    flat = [v for ab in paddings for v in ab]
    return single_op_model("PAD", [Q(shape, 0.1, -4), Q((len(shape), 2), const_i32=flat)], Q(out, 0.1, -4))


def variant_models() -> dict[str, bytes]:
    """Named single-operator variants (masks, negative indices, broadcasting, axes, beta, ...)."""
    return {
        "slice_basic": strided_slice_model([0, 1, 2], [2, 4, 6], [1, 1, 2], (2, 3, 2)),
        "slice_negative": strided_slice_model([0, -4, -1], [2, -1, 0], [1, 1, -1], (2, 3, 5)),
        "slice_masks": strided_slice_model([1, 0, 0], [2, 5, 3], [1, 2, 1], (1, 3, 3), (0b110, 0b011, 0)),
        "slice_shrink": strided_slice_model([1, 2, 0], [2, 3, 6], [1, 1, 1], (6,), (0, 0, 0b011)),
        "add_bcast_channel": binary_model("ADD", (1, 4, 5, 3), (1, 1, 1, 3)),
        "add_bcast_row_relu": binary_model("ADD", (1, 4, 5, 3), (1, 4, 1, 1), act=1),
        "add_relu6": binary_model("ADD", (2, 6), (2, 6), act=3),
        "mul_bcast": binary_model("MUL", (1, 4, 5, 3), (1, 1, 5, 1)),
        "mul_relu": binary_model("MUL", (2, 6), (2, 6), act=1),
        "concat_axis0": concat_model(0),
        "concat_axis1": concat_model(1),
        "concat_axis2": concat_model(2),
        "pack_axis0": concat_model(0, pack=True),
        "pack_axis1": concat_model(1, pack=True),
        "pack_axis2": concat_model(2, pack=True),
        "softmax_beta1": softmax_model(1.0, 0.1),
        "softmax_beta_half": softmax_model(0.5, 0.3),
        "softmax_fine_scale": softmax_model(1.0, 0.01),
        "softmax_saturating": softmax_model(2.0, 1.5),
        "logistic_a": logistic_model(0.1, 0),
        "logistic_b": logistic_model(0.02, -100),
        "logistic_c": logistic_model(0.5, 30),
        "pad_hw": pad_model([(0, 0), (1, 1), (2, 0), (0, 0)]),
        "pad_all": pad_model([(0, 1), (0, 0), (3, 2), (1, 1)]),
    }
