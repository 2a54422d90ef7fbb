"""Full-integer int8 post-training quantization.

The converter calibrates every activation on a representative dataset drawn (seeded) from the
training data, and the model's input and output are int8 too: no float op is left in the graph.
The model is traced with batch size 1, so the graph has static shapes (no SHAPE/PACK ops).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import numpy as np

from tinyfleet.compiler.flatbuffer import read_tflite
from tinyfleet.compiler.runtimes import quiet_native
from tinyfleet.errors import DataError

__all__ = ["dequantize", "quantize_inputs", "quantize_model", "representative_samples"]


def representative_samples(x_train: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` training inputs chosen with ``seed`` (all of them when there are fewer)."""
    if len(x_train) <= n:
        return x_train
    idx = np.random.default_rng(seed).choice(len(x_train), size=n, replace=False)
    return x_train[np.sort(idx)]


def quantize_model(model: Any, representative: np.ndarray) -> bytes:
    """Convert a Keras model to a full-integer int8 `.tflite` (int8 input and output)."""
    import keras
    import tensorflow as tf

    shape = (1, *tuple(int(d) for d in model.input_shape[1:]))
    inp = keras.Input(batch_shape=shape, name="input")
    fixed = keras.Model(inp, model(inp), name=model.name)

    def dataset() -> Any:
        for row in representative:
            yield [np.asarray(row, np.float32).reshape(shape)]

    conv = tf.lite.TFLiteConverter.from_keras_model(fixed)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = dataset
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), quiet_native((1, 2)):
            warnings.simplefilter("ignore")
            blob = bytes(conv.convert())
    except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError and friends
        msg = " ".join(str(exc).split())[:300]
        raise DataError(f"int8 conversion failed: {type(exc).__name__}: {msg}") from None
    read_tflite(blob, "the converted model").require_int8("the converted model")
    return blob


def quantize_inputs(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float inputs → int8 with the model's input quantization (round half to even, saturate)."""
    q = np.round(np.asarray(x, np.float64) / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((np.asarray(q, np.float64) - zero_point) * scale).astype(np.float32)
