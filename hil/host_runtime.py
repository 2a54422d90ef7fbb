"""The firmware's micro runtime built for this computer (`firmware/build/host/libtfrt.so`), via ctypes.

The same C sources run on the boards; here they answer "what would the MCU compute" without a
board: bit-exactness tests against TFLM, arena sizes, MACs. The library is built on first use
with ``make -C firmware host-lib`` (a fresh clone works), or explicitly with `build_library()`.

    model = HostModel(Path("model.tflite").read_bytes())   # arena sized exactly as required
    y = model.invoke(x)                                    # x: int8 array shaped like the input
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyfleet.errors import DataError, DeviceError

__all__ = [
    "HostModel",
    "HostRuntimeError",
    "IoInfo",
    "M4Check",
    "build_library",
    "library_path",
    "m4_check",
    "supported_ops",
    "tflm_min_arena",
    "tflm_outputs",
]

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware"

TFRT_OK = 0
TFRT_E_ARENA_TOO_SMALL = 4
TFRT_INT8, TFRT_INT32, TFRT_FLOAT32 = 9, 2, 0
_DTYPES = {TFRT_INT8: np.int8, TFRT_INT32: np.int32, TFRT_FLOAT32: np.float32}
_MAX_DIMS = 6

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


class HostRuntimeError(DataError):
    """The runtime refused a model or an inference; `status` is the tfrt_status code."""

    def __init__(self, message: str, status: int, op: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.op = op


class _Io(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("dims", ctypes.c_int32 * _MAX_DIMS),
        ("scale", ctypes.c_float),
        ("zero_point", ctypes.c_int32),
        ("bytes", ctypes.c_size_t),
    ]


@dataclass(frozen=True)
class IoInfo:
    """Shape, element type and quantization of the model input or output 0."""

    shape: tuple[int, ...]
    dtype: type
    scale: float
    zero_point: int
    nbytes: int


def library_path() -> Path:
    return FIRMWARE / "build" / "host" / "libtfrt.so"


def build_library() -> Path:
    """Run ``make -C firmware host-lib`` (make itself skips it when up to date)."""
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(FIRMWARE), "host-lib"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise DeviceError("building the host runtime failed: " + " | ".join(tail))
    return library_path()


def _load() -> ctypes.CDLL:
    global _lib
    with _lock:
        if _lib is None:
            lib = ctypes.CDLL(str(build_library()))
            p, sz = ctypes.c_void_p, ctypes.c_size_t
            lib.tfrt_load.argtypes = [p, p, sz, p, sz]
            lib.tfrt_load.restype = ctypes.c_int
            lib.tfrt_arena_required.argtypes = [p]
            lib.tfrt_arena_required.restype = sz
            lib.tfrt_invoke.argtypes = [p]
            lib.tfrt_invoke.restype = ctypes.c_int
            lib.tfrt_input.argtypes = [p, ctypes.POINTER(sz)]
            lib.tfrt_input.restype = p
            lib.tfrt_output.argtypes = [p, ctypes.POINTER(sz), ctypes.POINTER(ctypes.c_int)]
            lib.tfrt_output.restype = p
            lib.tfrt_io_info.argtypes = [p, ctypes.c_int, ctypes.POINTER(_Io)]
            lib.tfrt_io_info.restype = ctypes.c_int
            lib.tfrt_macs.argtypes = [p]
            lib.tfrt_macs.restype = ctypes.c_uint32
            lib.tfrt_unsupported_op.argtypes = [p, ctypes.c_char_p, sz]
            lib.tfrt_unsupported_op.restype = sz
            lib.tfrt_status_str.argtypes = [ctypes.c_int]
            lib.tfrt_status_str.restype = ctypes.c_char_p
            lib.tfrt_supported_ops.argtypes = []
            lib.tfrt_supported_ops.restype = ctypes.c_char_p
            lib.tfrt_sizeof_model.argtypes = []
            lib.tfrt_sizeof_model.restype = sz
            _lib = lib
        return _lib


def supported_ops() -> list[str]:
    """Operator names the micro runtime runs (the catalogue's ``tinyfleet-mcu`` list)."""
    raw: bytes = _load().tfrt_supported_ops()
    return raw.decode().split(",")


def _status_text(lib: ctypes.CDLL, status: int) -> str:
    raw: bytes = lib.tfrt_status_str(status)
    return raw.decode()


class HostModel:
    """A model loaded by the host build of the micro runtime.

    `arena_size=None` sizes the arena exactly as the planner asks; a smaller explicit size is
    refused with `HostRuntimeError` (status TFRT_E_ARENA_TOO_SMALL, `arena_required` set).
    """

    def __init__(self, model: bytes, arena_size: int | None = None) -> None:
        self._lib = _load()
        self._model_buf = ctypes.create_string_buffer(bytes(model), len(model))
        self._m = ctypes.create_string_buffer(int(self._lib.tfrt_sizeof_model()))
        if arena_size is None:
            status = self._lib.tfrt_load(self._m, self._model_buf, len(model), None, 0)
            if status not in (TFRT_OK, TFRT_E_ARENA_TOO_SMALL):
                self._raise_load(status)
            arena_size = int(self._lib.tfrt_arena_required(self._m)) + 3  # alignment slack
        self._arena = ctypes.create_string_buffer(max(arena_size, 1))
        status = self._lib.tfrt_load(self._m, self._model_buf, len(model), self._arena, arena_size)
        self.arena_required = int(self._lib.tfrt_arena_required(self._m))
        if status != TFRT_OK:
            self._raise_load(status)
        self.macs = int(self._lib.tfrt_macs(self._m))
        self.input = self._info(0)
        self.output = self._info(1)

    def _raise_load(self, status: int) -> None:
        buf = ctypes.create_string_buffer(64)
        self._lib.tfrt_unsupported_op(self._m, buf, len(buf))
        op = buf.value.decode(errors="replace")
        text = _status_text(self._lib, status)
        if status == TFRT_E_ARENA_TOO_SMALL:
            need = int(self._lib.tfrt_arena_required(self._m))
            raise HostRuntimeError(f"model refused: {text} (needs {need} bytes)", status)
        suffix = f": {op}" if op and status == 2 else ""
        raise HostRuntimeError(f"model refused: {text}{suffix}", status, op)

    def _info(self, is_output: int) -> IoInfo:
        io = _Io()
        status = self._lib.tfrt_io_info(self._m, is_output, ctypes.byref(io))
        if status != TFRT_OK:
            raise HostRuntimeError(_status_text(self._lib, status), status)
        return IoInfo(
            shape=tuple(int(io.dims[i]) for i in range(io.ndim)),
            dtype=_DTYPES[io.type],
            scale=float(io.scale),
            zero_point=int(io.zero_point),
            nbytes=int(io.bytes),
        )

    def invoke(self, x: np.ndarray) -> np.ndarray:
        """Run one inference on `x` (int8, `input.nbytes` elements); returns output 0 as a copy."""
        arr = np.ascontiguousarray(x)
        if arr.dtype != np.int8 or arr.nbytes != self.input.nbytes:
            raise DataError(
                f"input must be int8 with {self.input.nbytes} elements shaped "
                f"{self.input.shape}, got {arr.dtype} {arr.shape}"
            )
        n = ctypes.c_size_t()
        dst = self._lib.tfrt_input(self._m, ctypes.byref(n))
        ctypes.memmove(dst, arr.ctypes.data, arr.nbytes)
        status = self._lib.tfrt_invoke(self._m)
        if status != TFRT_OK:
            raise HostRuntimeError(f"inference failed: {_status_text(self._lib, status)}", status)
        typ = ctypes.c_int()
        src = self._lib.tfrt_output(self._m, ctypes.byref(n), ctypes.byref(typ))
        raw = ctypes.string_at(src, n.value)
        return np.frombuffer(raw, dtype=_DTYPES[typ.value]).reshape(self.output.shape).copy()


# ---- the oracle: TFLM through the tflite-micro package ----

TFLM_DEFAULT_ARENA = 1 << 20


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """TFLM reports allocation failures from C++ on file descriptor 2; hide them."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def tflm_outputs(
    model: bytes, inputs: Sequence[np.ndarray], arena_size: int = TFLM_DEFAULT_ARENA
) -> list[np.ndarray]:
    """TFLM's output 0 for each input (int8 arrays shaped like the model input)."""
    from tflite_micro import runtime

    with _quiet_stderr():
        it = runtime.Interpreter.from_bytes(model, arena_size=arena_size)
    out = []
    for x in inputs:
        it.set_input(np.asarray(x), 0)
        it.invoke()
        out.append(np.array(it.get_output(0)))
    return out


def tflm_min_arena(model: bytes, probe: np.ndarray, granularity: int = 16) -> int:
    """TFLM's smallest working arena for `model` (bisection on arena_size; `probe` is one input)."""
    from tflite_micro import runtime

    def works(n: int) -> bool:
        try:
            with _quiet_stderr():
                it = runtime.Interpreter.from_bytes(model, arena_size=n)
                it.set_input(probe, 0)
                it.invoke()
        except RuntimeError:
            return False
        return True

    lo, hi = 0, 4096
    while not works(hi):
        lo, hi = hi, hi * 2
        if hi > (1 << 26):
            raise DataError("TFLM cannot run this model with a 64 MB arena")
    while hi - lo > granularity:
        mid = (lo + hi) // 2
        if works(mid):
            hi = mid
        else:
            lo = mid
    return hi


# ---- the same runtime on the emulated Cortex-M4F (make -C firmware m4-check) ----

QEMU_ICOUNT_SHIFT = 6  # -icount shift=6: one instruction per 64 ns of virtual time
SYSTICK_NS = 40  # MPS2 SysTick runs at 25 MHz


@dataclass(frozen=True)
class M4Check:
    """One inference on QEMU mps2-an386 (Cortex-M4F, DSP SIMD inner loops)."""

    dsp_mismatches: int
    arena_bytes: int
    macs: int
    ticks: int
    output: bytes

    @property
    def instructions(self) -> int:
        return self.ticks * SYSTICK_NS // (1 << QEMU_ICOUNT_SHIFT)


def m4_check(model: bytes, x: np.ndarray) -> M4Check:
    """Build the bare-metal check program around `model` and input `x`, run it under QEMU."""
    with tempfile.TemporaryDirectory(prefix="tfrt-m4-") as tmp:
        mpath, xpath = Path(tmp) / "model.tflite", Path(tmp) / "input.bin"
        mpath.write_bytes(model)
        xpath.write_bytes(np.ascontiguousarray(x, np.int8).tobytes())
        proc = subprocess.run(
            [
                "make",
                "--no-print-directory",
                "-C",
                str(FIRMWARE),
                "m4-check",
                f"MODEL={mpath}",
                f"INPUT={xpath}",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
    fields: dict[str, str] = {}
    for line in (proc.stdout + "\n" + proc.stderr).splitlines():  # semihosting writes to stderr
        key, _, value = line.partition(" ")
        fields[key] = value.strip()
    if proc.returncode != 0 or fields.get("invoke_status") != "0":
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise DeviceError(
            f"emulated Cortex-M4 run failed (status {fields.get('status')}): " + " | ".join(tail)
        )
    return M4Check(
        dsp_mismatches=int(fields["dsp_mismatches"]),
        arena_bytes=int(fields["arena"]),
        macs=int(fields["macs"]),
        ticks=int(fields["ticks"]),
        output=bytes.fromhex(fields["out"]),
    )
