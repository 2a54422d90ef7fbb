"""Build tiny int8 .tflite models (64 int8 inputs -> 10-class softmax, like the digits model).

Run as a script in a subprocess (TensorFlow stays out of the test process):
``python make_models.py OUT_DIR N`` writes ``model0.tflite`` .. ``model{N-1}.tflite``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(out: Path, n: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng(i)
        tf.keras.utils.set_random_seed(i)
        model = tf.keras.Sequential(
            [
                tf.keras.Input((64,)),
                tf.keras.layers.Dense(16, activation="relu"),
                tf.keras.layers.Dense(10),
                tf.keras.layers.Softmax(),
            ]
        )

        def rep(rng: np.random.Generator = rng):
            for _ in range(32):
                yield [rng.uniform(0, 16, size=(1, 64)).astype(np.float32)]

        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        (out / f"model{i}.tflite").write_bytes(conv.convert())


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
