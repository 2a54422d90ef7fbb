"""The reference runtimes: TFLM (the bit-exact oracle), LiteRT BUILTIN_REF and onnxruntime.

Each runner takes a batch of inputs and returns the batch of outputs. ``tflm_arena_bytes`` finds
the smallest tensor arena TFLM accepts for a model by bisection.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinyfleet.errors import DataError

__all__ = ["litert_ref_run", "onnx_run", "quiet_native", "quiet_stderr", "tflm_arena_bytes", "tflm_run"]

ARENA_LIMIT = 64 * 1024 * 1024
ARENA_ALIGN = 16


@contextlib.contextmanager
def quiet_native(fds: tuple[int, ...] = (2,)) -> Iterator[None]:
    """Silence what C++ code writes to file descriptors ``fds`` (TFLM and the converter print there)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved: list[tuple[int, int]] = []
    try:
        with open(os.devnull, "wb") as null:
            for fd in fds:
                try:
                    saved.append((fd, os.dup(fd)))
                    os.dup2(null.fileno(), fd)
                except OSError:
                    continue
            yield
    finally:
        for fd, copy in reversed(saved):
            os.dup2(copy, fd)
            os.close(copy)


def quiet_stderr() -> contextlib.AbstractContextManager[None]:
    return quiet_native((2,))


def _tflm(blob: bytes, arena: int) -> Any:
    from tflite_micro import runtime

    with quiet_stderr():
        return runtime.Interpreter.from_bytes(blob, arena_size=arena)


def _tflm_ok(blob: bytes, arena: int) -> bool:
    try:
        _tflm(blob, arena)
    except (RuntimeError, ValueError):
        return False
    return True


def tflm_arena_bytes(blob: bytes) -> int:
    """Smallest arena (a multiple of 16 bytes) with which TFLM allocates every tensor of ``blob``.

    Measured on this host (64-bit pointers and the Python wrapper's allocation recorder), so it is an
    upper bound for a 32-bit MCU running the same TFLM.
    """
    hi = max(4096, len(blob) // 4)
    while not _tflm_ok(blob, hi):
        hi *= 2
        if hi > ARENA_LIMIT:
            raise DataError(f"TFLM cannot allocate this model even with a {ARENA_LIMIT} byte arena")
    lo = 0  # lo fails (or is zero), hi works
    while hi - lo > ARENA_ALIGN:
        mid = (lo + hi) // 2 // ARENA_ALIGN * ARENA_ALIGN
        if mid <= lo:
            break
        if _tflm_ok(blob, mid):
            hi = mid
        else:
            lo = mid
    return hi


def tflm_run(blob: bytes, x: np.ndarray, arena: int | None = None) -> np.ndarray:
    """Outputs of TFLM for each input of the int8 batch ``x`` (N, *input_shape) → (N, outputs)."""
    try:
        it = _tflm(blob, arena or ARENA_LIMIT // 8)
    except (RuntimeError, ValueError) as exc:
        raise DataError(f"TFLM refuses the model: {exc}") from None
    shape = tuple(int(d) for d in it.get_input_details(0)["shape"])
    outs = []
    with quiet_stderr():
        for row in x:
            it.set_input(np.asarray(row, dtype=np.int8).reshape(shape), 0)
            it.invoke()
            outs.append(np.array(it.get_output(0), dtype=np.int8).reshape(-1))
    return np.stack(outs)


def litert_ref_run(blob: bytes, x: np.ndarray) -> np.ndarray:
    """Outputs of LiteRT with the reference kernels (``BUILTIN_REF``) for the int8 batch ``x``."""
    it = litert_interpreter(blob)
    ind, outd = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for row in x:
        it.set_tensor(ind["index"], np.asarray(row, dtype=ind["dtype"]).reshape(ind["shape"]))
        it.invoke()
        outs.append(np.array(it.get_tensor(outd["index"])).reshape(-1))
    return np.stack(outs)


def litert_interpreter(blob: bytes) -> Any:
    """A LiteRT interpreter over ``blob``; LiteRT verifies the flatbuffer structure first."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        with quiet_stderr():
            it = Interpreter(model_content=bytes(blob), num_threads=1,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
            it.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise DataError(f"LiteRT refuses the model: {' '.join(str(exc).split())[:200]}") from None
    return it


def onnx_run(onnx_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Float outputs of onnxruntime (CPU, one thread) for the float batch ``x``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise DataError(f"onnxruntime refuses the model: {type(exc).__name__}") from None
    name = sess.get_inputs()[0].name
    in_shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    outs = [sess.run(None, {name: np.asarray(row, np.float32).reshape(in_shape)})[0].reshape(-1) for row in x]
    return np.stack(outs)
