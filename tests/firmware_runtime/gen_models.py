"""Small int8 models that exercise every operator of the micro runtime.

Keras builds them and the TFLite converter quantizes them fully to int8 with a representative
dataset (as `compiler/quantize.py` does). `build_all(folder)` writes NAME.tflite files once per
test session; each model is a few KB.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _convert(model: Any, in_shape: tuple[int, ...], seed: int, float_output: bool = False) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def dataset() -> Any:
        for _ in range(24):
            yield [rng.normal(0.0, 1.0, size=(1, *in_shape)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = dataset
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.float32 if float_output else tf.int8
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return bytes(conv.convert())


def _models() -> dict[str, tuple[Callable[[], Any], tuple[int, ...], bool]]:
    import keras
    from keras import layers, ops

    def fixed(shape: tuple[int, ...]) -> Any:
        return keras.Input(batch_shape=(1, *shape))

    def conv_family() -> Any:
        x = fixed((11, 11, 3))
        y = layers.Conv2D(6, 3, strides=2, padding="same", activation="relu6")(x)
        y = layers.Conv2D(5, (2, 3), padding="valid", activation="relu")(y)
        y = layers.Conv2D(4, 3, dilation_rate=2, padding="same")(y)
        y = layers.Conv2D(4, 1, strides=(1, 2), padding="same", use_bias=False)(y)
        return keras.Model(x, y)

    def depthwise_family() -> Any:
        x = fixed((10, 9, 3))
        y = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu6")(x)
        y = layers.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu")(y)
        y = layers.DepthwiseConv2D((2, 3), dilation_rate=2, padding="same")(y)
        return keras.Model(x, y)

    def pools() -> Any:
        x = fixed((13, 12, 4))
        y = layers.Conv2D(5, 3, padding="same")(x)
        a = layers.MaxPooling2D(2)(y)
        a = layers.AveragePooling2D(3, strides=2, padding="same")(a)
        b = layers.MaxPooling2D(3, strides=2, padding="same")(y)
        b = layers.AveragePooling2D(2, padding="valid")(b)
        return keras.Model(x, layers.Concatenate()([a, b]))

    def add_mul() -> Any:
        x = fixed((8, 8, 4))
        a = layers.Conv2D(6, 3, padding="same")(x)
        b = layers.Conv2D(6, 1, padding="same")(x)
        s = layers.Add()([a, b])
        g = layers.GlobalAveragePooling2D(keepdims=True)(b)
        m = layers.Multiply()([s, g])
        r = layers.Add()([m, g])
        return keras.Model(x, layers.ReLU()(r))

    def mean_pad_concat() -> Any:
        x = fixed((7, 6, 3))
        p = layers.ZeroPadding2D(((1, 2), (0, 1)))(x)
        c1 = layers.Conv2D(4, 3, activation="relu")(p)
        c2 = layers.Conv2D(3, 3)(p)
        c = layers.Concatenate(axis=-1)([c1, c2])
        m1 = layers.GlobalAveragePooling2D()(c)
        m2 = layers.Lambda(lambda t: ops.mean(t, axis=1))(c)
        m2 = layers.Flatten()(m2)
        return keras.Model(x, layers.Concatenate()([m1, m2]))

    def dense_softmax() -> Any:
        x = fixed((5, 4, 2))
        y = layers.Flatten()(x)
        y = layers.Dense(16, activation="relu")(y)
        y = layers.Dense(10)(y)
        return keras.Model(x, layers.Softmax()(y))

    def softmax_saturating() -> Any:
        x = fixed((12,))
        init = keras.initializers.RandomNormal(stddev=8.0, seed=3)
        y = layers.Dense(6, kernel_initializer=init)(x)
        return keras.Model(x, layers.Softmax()(y))

    def dense_logistic() -> Any:
        x = fixed((20,))
        init = keras.initializers.RandomNormal(stddev=2.0, seed=5)
        y = layers.Dense(12, activation="relu6")(x)
        y = layers.Dense(8, activation="sigmoid", kernel_initializer=init)(y)
        return keras.Model(x, y)

    def dynamic_batch() -> Any:
        x = keras.Input(shape=(6, 6, 2))
        y = layers.Conv2D(4, 3, padding="same", activation="relu")(x)
        y = layers.Reshape((-1, 4))(y)
        y = layers.Lambda(lambda t: ops.expand_dims(t, 1))(y)
        y = layers.Lambda(lambda t: ops.squeeze(t, 1))(y)
        y = layers.Flatten()(y)
        return keras.Model(x, layers.Dense(5)(y))

    def float_output() -> Any:
        x = fixed((16,))
        y = layers.Dense(8, activation="relu")(x)
        return keras.Model(x, layers.Dense(3)(y))

    return {
        "conv_family": (conv_family, (11, 11, 3), False),
        "depthwise_family": (depthwise_family, (10, 9, 3), False),
        "pools": (pools, (13, 12, 4), False),
        "add_mul": (add_mul, (8, 8, 4), False),
        "mean_pad_concat": (mean_pad_concat, (7, 6, 3), False),
        "dense_softmax": (dense_softmax, (5, 4, 2), False),
        "softmax_saturating": (softmax_saturating, (12,), False),
        "dense_logistic": (dense_logistic, (20,), False),
        "dynamic_batch": (dynamic_batch, (6, 6, 2), False),
        "float_output": (float_output, (16,), True),
    }


def build_all(folder: Path) -> dict[str, Path]:
    """Write every model as folder/NAME.tflite (kept when already there); name -> path."""
    import keras

    out: dict[str, Path] = {}
    for i, (name, (make, shape, float_out)) in enumerate(sorted(_models().items())):
        path = folder / f"{name}.tflite"
        if not path.exists():
            keras.utils.set_random_seed(100 + i)
            blob = _convert(make(), shape, seed=i, float_output=float_out)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(blob)
            tmp.replace(path)
        out[name] = path
    return out
