"""Instructions per MAC of the micro runtime per operator type, over a sweep of shapes (`make bench`).

Each point is a one-operator int8 model (Keras → the TFLite converter with full int8 quantization,
as the compiler quantizes) run once on the emulated Cortex-M4F by the bare-metal check program
(QEMU mps2-an386, `-icount shift=6`, DSP kernels): instructions ÷ MACs, and whether the output
equals TFLM's. Channel counts, strides, padding, kernel sizes and the depthwise multiplier vary, so
a shape that falls off a fast path shows as a cliff in its row. Figures, not asserts.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGET = 3.0  # issue 14: <= 3 instructions per MAC on any model of supported ops


def _int8_tflite(build: Callable[[], Any], in_shape: tuple[int, ...]) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(1)

    def data() -> Any:
        for _ in range(16):
            yield [rng.normal(0.0, 1.0, size=(1, *in_shape)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(build())
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = data
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return bytes(conv.convert())


def _points() -> list[tuple[str, str, tuple[int, ...], Callable[[], Any]]]:
    """(op type, shape label, input shape, Keras model builder)."""
    import keras
    from keras import layers

    def one(shape: tuple[int, ...], layer: Any) -> Callable[[], Any]:
        def build() -> Any:
            x = keras.Input(batch_shape=(1, *shape))
            return keras.Model(x, layer()(x))

        return build

    pts: list[tuple[str, str, tuple[int, ...], Callable[[], Any]]] = []
    for cin, cout, k, s, pad in [
        (3, 8, 3, 2, "same"),
        (8, 8, 3, 1, "same"),
        (16, 16, 3, 1, "valid"),
        (16, 32, 1, 1, "same"),
        (32, 32, 1, 1, "same"),
        (64, 64, 1, 1, "same"),
        (7, 13, 3, 1, "same"),
        (32, 32, 5, 2, "same"),
    ]:
        shape = (16, 16, cin)
        pts.append(
            (
                "CONV_2D",
                f"{cin}->{cout} k{k} s{s} {pad}",
                shape,
                one(shape, lambda c=cout, k=k, s=s, p=pad: layers.Conv2D(c, k, strides=s, padding=p)),
            )
        )
    for c, mult, k, s in [
        (8, 1, 3, 1),
        (32, 1, 3, 1),
        (64, 1, 3, 2),
        (8, 2, 3, 1),
        (3, 4, 3, 1),
        (17, 1, 5, 1),
    ]:
        shape = (16, 16, c)
        pts.append(
            (
                "DEPTHWISE_CONV_2D",
                f"{c}x{mult} k{k} s{s}",
                shape,
                one(
                    shape,
                    lambda m=mult, k=k, s=s: layers.DepthwiseConv2D(
                        k, strides=s, depth_multiplier=m, padding="same"
                    ),
                ),
            )
        )
    for n_in, n_out in [(64, 10), (256, 128), (640, 128), (1000, 12), (33, 7)]:
        shape = (n_in,)
        pts.append(
            ("FULLY_CONNECTED", f"{n_in}->{n_out}", shape, one(shape, lambda o=n_out: layers.Dense(o)))
        )
    return pts


def run() -> None:
    from tinyfleet.hil.host_runtime import m4_check, tflm_outputs

    console = Console(width=150)
    try:
        points = _points()
    except ImportError as exc:
        console.print(f"[yellow]opsweep: {exc}[/yellow]")
        return
    table = Table(title="instructions per MAC per operator type (emulated Cortex-M4F, one-op int8 models)")
    for col in ("op", "shape", "MACs", "instructions", "instr/MAC", "= TFLM"):
        table.add_column(col, justify="right")
    worst: dict[str, float] = {}
    rng = np.random.default_rng(0)
    for op, label, shape, build in points:
        blob = _int8_tflite(build, shape)
        x = rng.integers(-128, 128, size=(1, *shape), dtype=np.int8)
        try:
            m4 = m4_check(blob, x)
        except Exception as exc:  # noqa: BLE001 - one failing point must not hide the others
            table.add_row(op, label, "", "", "n/a", type(exc).__name__)
            continue
        per_mac = m4.instructions / m4.macs if m4.macs else float("nan")
        worst[op] = max(worst.get(op, 0.0), per_mac)
        ref = tflm_outputs(blob, [x])[0].tobytes()
        # the check program prints at most the first 4096 output bytes (runtime/tools/m4check)
        same = len(m4.output) == min(len(ref), 4096) and ref.startswith(m4.output) and not m4.dsp_mismatches
        table.add_row(
            op, label, f"{m4.macs:,}", f"{m4.instructions:,}", f"{per_mac:.2f}", "yes" if same else "NO"
        )
    console.print(table)
    console.print(
        "worst instr/MAC per op: "
        + ", ".join(f"{k} {v:.2f}" for k, v in worst.items())
        + f" (target <= {TARGET} on any model of supported ops)"
    )
