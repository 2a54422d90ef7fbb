"""Model architectures: small built-in templates, or a user's `.keras` file.

The templates end in a convolution over the whole remaining feature map instead of a dense layer
where they can: per-channel CONV_2D requantization is rounded identically by TFLM and LiteRT's
reference kernels, while LiteRT's per-tensor FULLY_CONNECTED path rounds once instead of twice
and can differ from TFLM by a few LSB (see docs/compiler.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinyfleet.errors import DataError, UsageError

__all__ = ["make_model"]


def make_model(architecture: str, input_shape: tuple[int, ...], n_classes: int) -> Any:
    import keras

    if architecture == "dense":
        return _dense(keras, input_shape, n_classes)
    if architecture in ("cnn", "ds_cnn"):
        if len(input_shape) != 3:
            raise UsageError(
                f"architecture {architecture} needs (height, width, channels) inputs, "
                f"got {list(input_shape)}; set [data] input_shape"
            )
        return (_cnn if architecture == "cnn" else _ds_cnn)(keras, input_shape, n_classes)
    return _user_model(keras, Path(architecture), input_shape, n_classes)


def _dense(keras: Any, shape: tuple[int, ...], n: int) -> Any:
    L = keras.layers
    features = 1
    for d in shape:
        features *= d
    return keras.Sequential(
        [
            keras.Input(shape),
            L.Reshape((features,)),
            L.Dense(32, activation="relu"),
            L.Dense(n),
            L.Softmax(),
        ],
        name="dense",
    )


def _pool(keras: Any, h: int, w: int) -> tuple[list[Any], int, int]:
    if h >= 4 and w >= 4:
        return [keras.layers.MaxPool2D(2)], h // 2, w // 2
    return [], h, w


def _cnn(keras: Any, shape: tuple[int, ...], n: int) -> Any:
    L = keras.layers
    h, w, _ = shape
    pool, h, w = _pool(keras, h, w)
    return keras.Sequential(
        [
            keras.Input(shape),
            L.Conv2D(8, 3, padding="same", activation="relu"),
            *pool,
            L.Conv2D(16, 3, padding="same", activation="relu"),
            L.Conv2D(n, (h, w), padding="valid"),  # the classifier: one window over the whole map
            L.Reshape((n,)),
            L.Softmax(),
        ],
        name="cnn",
    )


def _ds_cnn(keras: Any, shape: tuple[int, ...], n: int) -> Any:
    L = keras.layers
    h, w, _ = shape
    pool, h2, w2 = _pool(keras, h, w)
    return keras.Sequential(
        [
            keras.Input(shape),
            L.Conv2D(16, 3, padding="same", activation="relu"),
            L.DepthwiseConv2D(3, padding="same", activation="relu"),
            L.Conv2D(16, 1, activation="relu"),
            *pool,
            L.DepthwiseConv2D(3, padding="same", activation="relu"),
            L.Conv2D(24, 1, activation="relu"),
            L.AveragePooling2D((h2, w2)),
            L.Conv2D(n, 1),
            L.Reshape((n,)),
            L.Softmax(),
        ],
        name="ds_cnn",
    )


def _user_model(keras: Any, path: Path, shape: tuple[int, ...], n: int) -> Any:
    if not path.is_file():
        raise UsageError(f"architecture file {path} does not exist")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - keras raises many types for a bad file
        raise DataError(f"cannot load Keras model {path}: {type(exc).__name__}: {exc}") from None
    got_in = tuple(model.input_shape[1:])
    if got_in != tuple(shape):
        raise DataError(f"{path}: model input shape {list(got_in)} does not match the data {list(shape)}")
    got_out = tuple(model.output_shape[1:])
    if got_out != (n,):
        raise DataError(f"{path}: model output shape {list(got_out)} does not match {n} classes")
    return model
