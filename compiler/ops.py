"""Which TFLite builtin ops each MCU runtime runs (data, checked by `verify`).

``TINYFLEET_MCU_OPS`` is the op list of the tinyfleet micro runtime, read from the firmware's own
list ``firmware/runtime/ops.txt`` when the source tree is present; the copy below is used otherwise
(an installed package) and a test keeps the two equal.
``TFLM_OPS`` is the builtin set of TFLite Micro's op resolver. A board lists the runtimes it uses
(`tinyfleet/boards.toml`); Linux runtimes (LiteRT, onnxruntime) run every builtin op.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["MCU_RUNTIMES", "OPS_TXT", "TFLM_OPS", "TINYFLEET_MCU_OPS", "read_ops_txt", "unsupported_ops"]

_MCU_OPS_COPY = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "ADD",
        "MUL",
        "PAD",
        "MEAN",
        "CONCATENATION",
        "RESHAPE",
        "SQUEEZE",
        "EXPAND_DIMS",
        "SOFTMAX",
        "LOGISTIC",
        "QUANTIZE",
        "DEQUANTIZE",
        "RELU",
        "RELU6",
        "SHAPE",
        "STRIDED_SLICE",
        "PACK",
    }
)

OPS_TXT = Path(__file__).resolve().parent.parent / "firmware" / "runtime" / "ops.txt"


def read_ops_txt(path: Path = OPS_TXT) -> frozenset[str] | None:
    """The op names of an ``ops.txt`` (one per line, ``#`` comments), or None when it is absent."""
    try:
        text = path.read_text("utf-8")
    except OSError:
        return None
    return frozenset(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))


TINYFLEET_MCU_OPS = read_ops_txt() or _MCU_OPS_COPY

TFLM_OPS = frozenset(
    {
        "ABS",
        "ADD",
        "ADD_N",
        "ARG_MAX",
        "ARG_MIN",
        "ASSIGN_VARIABLE",
        "AVERAGE_POOL_2D",
        "BATCH_MATMUL",
        "BATCH_TO_SPACE_ND",
        "BROADCAST_ARGS",
        "BROADCAST_TO",
        "CALL_ONCE",
        "CAST",
        "CEIL",
        "CONCATENATION",
        "CONV_2D",
        "COS",
        "CUMSUM",
        "DEPTH_TO_SPACE",
        "DEPTHWISE_CONV_2D",
        "DEQUANTIZE",
        "DIV",
        "ELU",
        "EMBEDDING_LOOKUP",
        "EQUAL",
        "EXP",
        "EXPAND_DIMS",
        "FILL",
        "FLOOR",
        "FLOOR_DIV",
        "FLOOR_MOD",
        "FULLY_CONNECTED",
        "GATHER",
        "GATHER_ND",
        "GREATER",
        "GREATER_EQUAL",
        "HARD_SWISH",
        "IF",
        "L2_NORMALIZATION",
        "L2_POOL_2D",
        "LEAKY_RELU",
        "LESS",
        "LESS_EQUAL",
        "LOG",
        "LOG_SOFTMAX",
        "LOGICAL_AND",
        "LOGICAL_NOT",
        "LOGICAL_OR",
        "LOGISTIC",
        "MAX_POOL_2D",
        "MAXIMUM",
        "MEAN",
        "MINIMUM",
        "MIRROR_PAD",
        "MUL",
        "NEG",
        "NOT_EQUAL",
        "PACK",
        "PAD",
        "PADV2",
        "PRELU",
        "QUANTIZE",
        "READ_VARIABLE",
        "REDUCE_MAX",
        "RELU",
        "RELU6",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "RSQRT",
        "SELECT_V2",
        "SHAPE",
        "SIN",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_BATCH_ND",
        "SPACE_TO_DEPTH",
        "SPLIT",
        "SPLIT_V",
        "SQRT",
        "SQUARE",
        "SQUARED_DIFFERENCE",
        "SQUEEZE",
        "STRIDED_SLICE",
        "SUB",
        "SUM",
        "SVDF",
        "TANH",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "UNPACK",
        "VAR_HANDLE",
        "WHILE",
        "ZEROS_LIKE",
    }
)

MCU_RUNTIMES: dict[str, frozenset[str]] = {"tinyfleet-mcu": TINYFLEET_MCU_OPS, "tflm": TFLM_OPS}


def unsupported_ops(ops: Iterable[str], runtimes: Iterable[str]) -> dict[str, list[str]]:
    """Per MCU runtime in ``runtimes``: the ops of ``ops`` it cannot run (Linux runtimes: custom ops)."""
    ops = list(ops)
    out: dict[str, list[str]] = {}
    for rt in runtimes:
        table = MCU_RUNTIMES.get(rt)
        missing = (
            [op for op in ops if op.startswith("CUSTOM:")]
            if table is None
            else [op for op in ops if op not in table]
        )
        out[rt] = sorted(set(missing))
    return out
