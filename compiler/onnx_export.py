"""ONNX artifacts: the float model (tf2onnx) and an int8 QDQ model (onnxruntime.quantization).

tf2onnx's ``from_keras`` does not handle Keras 3 models, so the model is traced as a
``tf.function`` with a batch-1 input signature and converted with ``from_function``. The int8 model
is static QDQ quantization (int8 activations and per-channel int8 weights) calibrated on the same
representative data as the TFLite model; its input and output stay float, as ONNX QDQ models do.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tinyfleet.compiler.runtimes import quiet_native
from tinyfleet.errors import DataError

__all__ = ["ONNX_OPSET", "onnx_float", "onnx_int8_qdq"]

ONNX_OPSET = 13
INPUT_NAME = "input"


def onnx_float(model: Any) -> bytes:
    import tensorflow as tf
    import tf2onnx

    shape = (1, *tuple(int(d) for d in model.input_shape[1:]))
    fn = tf.function(lambda x: model(x, training=False))
    sig = [tf.TensorSpec(shape, tf.float32, name=INPUT_NAME)]
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), quiet_native((1, 2)):
            warnings.simplefilter("ignore")
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=sig, opset=ONNX_OPSET)
    except Exception as exc:  # noqa: BLE001 - tf2onnx raises assorted errors for unsupported graphs
        raise DataError(
            f"ONNX export failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        ) from None
    return bytes(proto.SerializeToString())


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over a float array."""

    def __init__(self, name: str, x: np.ndarray, shape: tuple[int, ...]) -> None:
        self._rows = iter([{name: np.asarray(r, np.float32).reshape(shape)} for r in x])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._rows, None)

    def rewind(self) -> None:  # quantize_static reads the data once
        return None


def onnx_int8_qdq(float_model: bytes, representative: np.ndarray) -> bytes:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    m = onnx.load_from_string(float_model)
    inp = m.graph.input[0]
    shape = tuple(d.dim_value or 1 for d in inp.type.tensor_type.shape.dim)

    class Reader(_Calibration, CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no types
        pass

    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="tinyfleet-onnx-") as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(float_model)
        logging.disable(logging.WARNING)  # its advice to pre-process goes to the root logger
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), quiet_native((1, 2)):
                warnings.simplefilter("ignore")
                quantize_static(
                    str(src),
                    str(dst),
                    Reader(inp.name, representative, shape),
                    quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                )
        except Exception as exc:  # noqa: BLE001 - onnxruntime.quantization raises assorted errors
            raise DataError(f"ONNX int8 quantization failed: {type(exc).__name__}: {exc}") from None
        finally:
            logging.disable(logging.NOTSET)
        return dst.read_bytes()
