"""The reference runtimes: TFLM (the bit-exact oracle), LiteRT BUILTIN_REF and onnxruntime.

Each runner takes a batch of inputs and returns the batch of outputs. ``tflm_arena_bytes`` finds
the smallest tensor arena TFLM accepts for a model by bisection.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

import tinyfleet
from tinyfleet.errors import DataError

__all__ = ["litert_ref_run", "onnx_run", "quiet_native", "quiet_stderr", "tflm_arena_bytes", "tflm_run"]

ARENA_LIMIT = 64 * 1024 * 1024
ARENA_ALIGN = 16
# The folder that holds the `tinyfleet` package (the repository, or site-packages when installed).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(tinyfleet.__file__)))


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


def _probe(path: str, lo: int, hi: int, check_hi: bool) -> tuple[str, int, int, int]:
    """Run the probe child once: (kind, N, lo, hi) with kind "done", "ok"/"fail" (--check-hi) or
    "crash" (it crashed probing N); lo and hi are the bounds the child narrowed before it ended."""
    cmd = [sys.executable, "-m", "tinyfleet.compiler.arena_probe", path, str(lo), str(hi)]
    cmd += ["--check-hi"] if check_hi else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    last_try = None
    result: tuple[str, int] | None = None
    for line in p.stdout.splitlines():
        kind, _, num = line.partition(" ")
        if kind == "try":
            last_try = int(num)
            continue
        if kind == "ok":
            hi = min(hi, int(num))
        elif kind == "fail":
            lo = max(lo, int(num))
        if kind in ("ok", "fail", "done"):
            result = (kind, int(num))
            last_try = None
    if p.returncode != 0 and last_try is not None:
        return "crash", last_try, max(lo, last_try), hi
    if p.returncode != 0 or result is None:
        raise DataError(f"TFLM arena probe failed (exit {p.returncode})")
    if result[0] in ("ok", "fail") and not check_hi:
        raise DataError("TFLM arena probe stopped early")
    return result[0], result[1], lo, hi


def tflm_arena_bytes(blob: bytes) -> int:
    """Smallest arena (a multiple of 16 bytes) with which TFLM allocates every tensor of ``blob``.

    Probed by bisection in a child process (TFLM can crash on some too-small arenas). Measured on
    this host (64-bit pointers and the Python wrapper's allocation recorder), so it is an upper
    bound for a 32-bit MCU running the same TFLM.
    """
    digest = hashlib.sha256(blob).hexdigest()
    if digest not in _ARENA_CACHE:
        _ARENA_CACHE[digest] = _measure_arena(blob)
    return _ARENA_CACHE[digest]


_ARENA_CACHE: dict[str, int] = {}  # sha256 of a model -> its measured arena (the probe is deterministic)


def _measure_arena(blob: bytes) -> int:
    with tempfile.TemporaryDirectory(prefix="tinyfleet-arena-") as tmp:
        path = os.path.join(tmp, "model.tflite")
        with open(path, "wb") as fh:
            fh.write(blob)
        hi = max(4096, len(blob) // 4) // ARENA_ALIGN * ARENA_ALIGN
        while True:
            kind, _, _, _ = _probe(path, 0, hi, check_hi=True)
            if kind == "ok":
                break
            hi *= 2
            if hi > ARENA_LIMIT:
                raise DataError(f"TFLM cannot allocate this model even with a {ARENA_LIMIT} byte arena")
        lo = 0
        for _ in range(64):
            kind, n, lo, hi = _probe(path, lo, hi, check_hi=False)
            if kind == "done":
                return n
            # it crashed probing n: n is too small; go on from the narrowed bounds
        raise DataError("TFLM arena probe kept crashing")


def tflm_run(blob: bytes, x: np.ndarray, arena: int | None = None) -> np.ndarray:
    """Outputs of TFLM for each input of the int8 batch ``x`` (N, *input_shape) → (N, outputs)."""
    try:
        it = _tflm(blob, arena or ARENA_LIMIT // 8)
    except (RuntimeError, ValueError) as exc:
        raise DataError(f"TFLM refuses the model: {exc}") from None
    try:
        shape = tuple(int(d) for d in it.get_input_details(0)["shape"])
        outs = []
        with quiet_stderr():
            for row in x:
                it.set_input(np.asarray(row, dtype=np.int8).reshape(shape), 0)
                it.invoke()
                outs.append(np.array(it.get_output(0), dtype=np.int8).reshape(-1))
    except (RuntimeError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise DataError(
            f"TFLM cannot run the model ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
        ) from None
    return np.stack(outs)


def litert_ref_run(blob: bytes, x: np.ndarray) -> np.ndarray:
    """Outputs of LiteRT with the reference kernels (``BUILTIN_REF``) for the int8 batch ``x``."""
    it = litert_interpreter(blob)
    try:
        ind, outd = it.get_input_details()[0], it.get_output_details()[0]
        outs = []
        for row in x:
            it.set_tensor(ind["index"], np.asarray(row, dtype=ind["dtype"]).reshape(ind["shape"]))
            it.invoke()
            outs.append(np.array(it.get_tensor(outd["index"])).reshape(-1))
    except (RuntimeError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise DataError(
            f"LiteRT cannot run the model ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
        ) from None
    return np.stack(outs)


def litert_interpreter(blob: bytes) -> Any:
    """A LiteRT interpreter over ``blob``; LiteRT verifies the flatbuffer structure first."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        with quiet_stderr():
            it = Interpreter(
                model_content=bytes(blob),
                num_threads=1,
                experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
            )
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
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise DataError(f"onnxruntime refuses the model: {type(exc).__name__}") from None
    name = sess.get_inputs()[0].name
    in_shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    outs = [sess.run(None, {name: np.asarray(row, np.float32).reshape(in_shape)})[0].reshape(-1) for row in x]
    return np.stack(outs)
