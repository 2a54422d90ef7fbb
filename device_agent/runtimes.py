"""Model runtimes behind one interface: int8 input in, int8 output out, batch of one.

- ``litert``: ``ai_edge_litert`` (LiteRT), falling back to ``tflite_runtime`` when it is absent;
  runs ``model.tflite``.
- ``onnxruntime``: runs ``model_int8.onnx`` (else ``model_float.onnx``). When the ONNX graph takes or
  gives float tensors, the agent (de)quantizes with the package's ``input``/``output`` scale and zero
  point, so callers always see the same int8 tensors as on the MCU.

Runtimes are imported on first use, so an agent that uses LiteRT never loads onnxruntime.
A model is not thread-safe: ``infer`` holds the model's lock; after ``close()`` it raises
:class:`ModelClosed` and the hot-swap holder retries on the current model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyfleet import manifest
from tinyfleet.errors import DataError, DeviceError
from tinyfleet.package import ModelPackage

__all__ = ["LoadedModel", "ModelClosed", "TensorSpec", "load_model", "self_test"]


class ModelClosed(DeviceError):
    """The model was unloaded (swapped out) while a caller still held it."""


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    scale: float
    zero_point: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @classmethod
    def from_manifest(cls, spec: manifest.TensorSpec) -> TensorSpec:
        return cls(tuple(spec.shape), spec.scale, spec.zero_point)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        q = np.round(np.asarray(x, dtype=np.float64) / self.scale) + self.zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return ((q.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)


class LoadedModel:
    """One model instance in one runtime."""

    def __init__(self, package: ModelPackage, runtime: str) -> None:
        self.package = package
        self.runtime = runtime
        self.name = package.name
        self.version = package.version
        self.sha256 = package.sha256
        self.input = TensorSpec.from_manifest(package.meta.input)
        self.output = TensorSpec.from_manifest(package.meta.output)
        self._lock = threading.Lock()
        self._closed = False
        self._impl: Any = None
        self._float_in = self._float_out = False
        if runtime == "litert":
            self._load_litert(package.artifact("model.tflite"))
        elif runtime == "onnxruntime":
            self._load_onnx(package)
        else:
            raise DeviceError(f"unknown runtime {runtime!r}")

    # -- loading -------------------------------------------------------------------------------
    def _load_litert(self, model: bytes) -> None:
        try:
            from ai_edge_litert import interpreter as litert
        except ImportError:
            try:
                from tflite_runtime import interpreter as litert
            except ImportError:
                raise DeviceError("no LiteRT runtime: install ai-edge-litert (or tflite-runtime)") from None
        # Built-in kernels without the XNNPACK delegate: MCU-sized int8 models gain nothing from it, it
        # costs memory, and the built-in kernels round like TFLM (the golden vectors' reference).
        resolver = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            interp = litert.Interpreter(
                model_content=model, num_threads=1, experimental_op_resolver_type=resolver
            )
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise DeviceError(f"LiteRT cannot load {self.name} {self.version}: {exc}") from None
        self._in = interp.get_input_details()[0]
        self._out = interp.get_output_details()[0]
        if self._in["dtype"] != np.int8 or self._out["dtype"] != np.int8:
            raise DeviceError(f"{self.name} {self.version}: LiteRT model is not int8 in and out")
        self._impl = interp

    def _load_onnx(self, package: ModelPackage) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise DeviceError("onnxruntime is not installed") from None
        blob = package.members.get("model_int8.onnx") or package.members.get("model_float.onnx")
        if blob is None:
            raise DeviceError(f"{self.name} {self.version} has no ONNX artifact")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        try:
            sess = ort.InferenceSession(blob, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise DeviceError(f"onnxruntime cannot load {self.name} {self.version}: {exc}") from None
        self._in_name = sess.get_inputs()[0].name
        self._float_in = "float" in sess.get_inputs()[0].type
        self._float_out = "float" in sess.get_outputs()[0].type
        self._in_shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
        self._impl = sess

    # -- running -------------------------------------------------------------------------------
    def infer(self, x: np.ndarray) -> np.ndarray:
        """One int8 input (any shape with the right number of elements) -> flat int8 output."""
        a = np.asarray(x)
        if a.dtype != np.int8:
            raise DataError(f"input must be int8, got {a.dtype}")
        if a.size != self.input.size:
            raise DataError(f"input has {a.size} values, the model takes {self.input.size}")
        with self._lock:
            if self._closed:
                raise ModelClosed(f"{self.name} {self.version} was unloaded")
            if self.runtime == "litert":
                self._impl.set_tensor(self._in["index"], a.reshape(self._in["shape"]))
                self._impl.invoke()
                return np.array(self._impl.get_tensor(self._out["index"]), dtype=np.int8).reshape(-1)
            feed = self.input.dequantize(a) if self._float_in else a
            out = self._impl.run(None, {self._in_name: feed.reshape(self._in_shape)})[0]
        y = np.asarray(out)
        return (self.output.quantize(y) if self._float_out else y.astype(np.int8)).reshape(-1)

    def close(self) -> None:
        """Release the runtime; waits for a running inference to finish."""
        with self._lock:
            self._closed = True
            self._impl = None

    @property
    def closed(self) -> bool:
        return self._closed


def load_model(package: ModelPackage, runtime: str) -> LoadedModel:
    return LoadedModel(package, runtime)


def self_test(model: LoadedModel) -> tuple[bool, int, str]:
    """Run the package's golden vectors; (passed, max |diff|, detail)."""
    pkg = model.package
    golden = pkg.golden
    tol_table = pkg.meta.golden.tolerance
    if model.runtime not in tol_table:
        return False, -1, f"package gives no golden tolerance for {model.runtime}"
    tolerance = tol_table[model.runtime]
    outs = np.stack([model.infer(x) for x in golden.inputs])
    if outs.shape != golden.outputs.shape:
        return False, -1, f"model output has {outs.shape[1]} values, golden vectors {golden.output_bytes}"
    ok, diff = golden.check(outs, tolerance)
    detail = f"{golden.count} golden vectors, max diff {diff} LSB (tolerance {tolerance})"
    return ok, diff, detail
