"""Verification: run an int8 model in its reference runtimes and check it against a board.

TFLM (the `tflite-micro` package) is the oracle. LiteRT's reference kernels (``BUILTIN_REF``) are
compared with it value by value; LiteRT rounds some requantizations once where TFLM rounds twice,
so a few LSB of difference on some models is expected and reported as measured, never hidden.
ONNX models (float and int8 QDQ) run in onnxruntime on the dequantized int8 inputs; their outputs
are quantized with the TFLite output parameters so all runtimes are compared in int8 LSB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyfleet.boards import Board
from tinyfleet.catalogue import ops_verdict
from tinyfleet.compiler.flatbuffer import TfliteInfo, read_tflite
from tinyfleet.compiler.quantize import dequantize, quantize_inputs
from tinyfleet.compiler.runtimes import litert_ref_run, onnx_run, tflm_arena_bytes, tflm_run
from tinyfleet.errors import DataError

__all__ = ["Evaluation", "VerifyData", "board_check", "evaluate", "random_inputs"]

RANDOM_SAMPLES = 16


@dataclass(frozen=True)
class VerifyData:
    x: np.ndarray  # int8 (N, *input_shape)
    y: np.ndarray | None  # int labels (N,) or None
    source: str  # "validation", a file name, or "random"


@dataclass
class Evaluation:
    """Runtime results for one model on one batch (board independent)."""

    info: TfliteInfo
    arena_bytes: int
    data: VerifyData
    outputs: dict[str, np.ndarray]  # runtime -> int8 outputs (N, out)
    report: dict[str, Any]  # ops, arena, accuracy, agreement


def random_inputs(info: TfliteInfo, n: int = RANDOM_SAMPLES, seed: int = 0) -> VerifyData:
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(n, *info.input.shape[1:]), dtype=np.int8)
    return VerifyData(x=x, y=None, source="random")


def data_from_arrays(info: TfliteInfo, x: np.ndarray, y: np.ndarray | None, source: str) -> VerifyData:
    """Inputs from a user array: int8 as they are, float quantized with the model's input parameters."""
    want = int(np.prod(info.input.shape[1:]))
    if x.ndim < 1 or x.shape[0] == 0 or x[0].size != want:
        raise DataError(
            f"{source}: each sample must have {want} values for input shape {list(info.input.shape)}"
        )
    if x.dtype == np.int8:
        q = x.reshape((len(x), *info.input.shape[1:]))
    elif np.issubdtype(x.dtype, np.number):
        assert info.input.scale is not None and info.input.zero_point is not None
        xf = np.asarray(x, np.float64).reshape((len(x), *info.input.shape[1:]))
        if not np.all(np.isfinite(xf)):
            raise DataError(f"{source}: inputs contain NaN or infinity")
        q = quantize_inputs(xf, info.input.scale, info.input.zero_point)
    else:
        raise DataError(f"{source}: x must be numeric")
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) != len(q) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{source}: y must hold one integer label per sample")
    return VerifyData(x=q, y=y, source=source)


def _agreement(ref: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    diff = np.abs(ref.astype(np.int16) - other.astype(np.int16))
    return {
        "bitexact": bool(np.all(diff == 0)),
        "max_abs_diff": int(diff.max()) if diff.size else 0,
        "mismatches": int(np.count_nonzero(diff)),
        "values": int(diff.size),
        "argmax_agree": float(np.mean(np.argmax(ref, 1) == np.argmax(other, 1))) if ref.ndim == 2 else 1.0,
    }


def evaluate(
    blob: bytes, data: VerifyData | None = None, onnx: dict[str, bytes] | None = None, what: str = "model"
) -> Evaluation:
    """Run ``blob`` (an int8 .tflite) in TFLM and LiteRT-REF, and any ONNX models, on ``data``."""
    info = read_tflite(blob, what)
    info.require_int8(what)
    data = data or random_inputs(info)
    litert = litert_ref_run(blob, data.x)  # LiteRT first: it verifies the flatbuffer structure
    arena = tflm_arena_bytes(blob)
    tflm = tflm_run(blob, data.x, arena)  # run with exactly the measured arena
    outputs = {"tflm": tflm, "litert_ref": litert}
    out = info.output
    assert out.scale is not None and out.zero_point is not None
    assert info.input.scale is not None and info.input.zero_point is not None
    x_float = dequantize(data.x, info.input.scale, info.input.zero_point)
    for name, model in sorted((onnx or {}).items()):
        y = onnx_run(model, x_float)
        if y.shape != tflm.shape:
            raise DataError(
                f"{name} gives outputs of shape {list(y.shape[1:])}, the TFLite model {list(tflm.shape[1:])}"
            )
        outputs[name] = quantize_inputs(y, out.scale, out.zero_point)
    agreement = {k: _agreement(tflm, v) for k, v in outputs.items() if k != "tflm"}
    report: dict[str, Any] = {
        "model_bytes": info.size,
        "ops": list(info.ops),
        "op_count": info.op_count,
        "tflm_arena_bytes": arena,
        "input": info.input.as_dict(),
        "output": info.output.as_dict(),
        "samples": int(len(data.x)),
        "data": data.source,
        "bitexact": agreement["litert_ref"]["bitexact"],
        "max_abs_diff": agreement["litert_ref"]["max_abs_diff"],
        "agreement": agreement,
        "accuracy": None,
    }
    if data.y is not None and tflm.ndim == 2 and tflm.shape[1] > 1:
        report["accuracy"] = {k: float(np.mean(np.argmax(v, 1) == data.y)) for k, v in outputs.items()}
    return Evaluation(info=info, arena_bytes=arena, data=data, outputs=outputs, report=report)


def board_check(ev: Evaluation, board: Board, golden_bytes: int = 0) -> dict[str, Any]:
    """Does the model fit ``board``? Flash (model + golden) per slot, TFLM arena, and ops."""
    flash = ev.info.size + golden_bytes
    verdict = ops_verdict(ev.info.ops, board.runtimes)
    reasons = []
    if flash > board.model_slot_bytes:
        reasons.append(
            f"model{' + golden' if golden_bytes else ''} is {flash} bytes, a model slot holds {board.model_slot_bytes}"
        )
    if ev.arena_bytes > board.arena_budget:
        reasons.append(f"TFLM arena needs {ev.arena_bytes} bytes, the board's budget is {board.arena_budget}")
    if not verdict.runs:
        by = [f"{rt}: {', '.join(ops)}" for rt, ops in verdict.unsupported_by.items() if ops]
        by += [f"unknown runtime {rt!r}" for rt in verdict.unknown] or ([] if by else ["no runtime"])
        reasons.append(f"unsupported ops ({'; '.join(by)})")
    return {
        "board": board.name,
        "board_kind": board.kind,
        "flash_bytes": flash,
        "model_slot_bytes": board.model_slot_bytes,
        "arena_budget": board.arena_budget,
        "unsupported_ops": list(verdict.unsupported_ops),
        "unsupported_by": {rt: list(ops) for rt, ops in verdict.unsupported_by.items()},
        "fits": not reasons,
        "reasons": reasons,
    }
