from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyfleet.catalogue import get_runtime
from tinyfleet.compiler.architectures import make_model
from tinyfleet.compiler.flatbuffer import read_tflite
from tinyfleet.compiler.quantize import quantize_model
from tinyfleet.compiler.runtimes import litert_ref_run, tflm_run
from tinyfleet.compiler.train import prepare_tensorflow
from tinyfleet.errors import DataError, UsageError


@pytest.mark.parametrize("arch", ["cnn", "ds_cnn", "dense"])
def test_templates_quantize_to_mcu_ops(arch: str) -> None:
    prepare_tensorflow(0)
    model = make_model(arch, (8, 8, 1), 4)
    rep = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    blob = quantize_model(model, rep)
    info = read_tflite(blob)
    assert set(info.ops) <= (get_runtime("tinyfleet-mcu").ops or set()), info.ops
    assert info.output.shape == (1, 4) and "SHAPE" not in info.ops  # static shapes
    if arch != "dense":  # convolution heads: LiteRT-REF rounds like TFLM
        x = np.random.default_rng(1).integers(-128, 128, (8, 8, 8, 1), dtype=np.int8)
        assert np.array_equal(tflm_run(blob, x), litert_ref_run(blob, x))


def test_conv_templates_need_image_inputs() -> None:
    with pytest.raises(UsageError, match="needs \\(height, width, channels\\)"):
        make_model("cnn", (64,), 10)


def test_user_keras_model(tmp_path: Path) -> None:
    prepare_tensorflow(0)
    import keras

    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="softmax")])
    m.save(tmp_path / "m.keras")
    loaded = make_model(str(tmp_path / "m.keras"), (6,), 3)
    assert loaded.output_shape == (None, 3)
    with pytest.raises(DataError, match="does not match 4 classes"):
        make_model(str(tmp_path / "m.keras"), (6,), 4)
    with pytest.raises(DataError, match="input shape"):
        make_model(str(tmp_path / "m.keras"), (7,), 3)
    (tmp_path / "bad.keras").write_bytes(b"not a keras file")
    with pytest.raises(DataError, match="cannot load Keras model"):
        make_model(str(tmp_path / "bad.keras"), (6,), 3)
    with pytest.raises(UsageError, match="does not exist"):
        make_model(str(tmp_path / "none.keras"), (6,), 3)
