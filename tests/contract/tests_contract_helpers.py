"""Small package fixtures shared by the contract tests."""

from __future__ import annotations

import numpy as np

from tinyfleet.golden import GoldenSet


def manifest(**over: object) -> dict:
    m = {
        "name": "tiny",
        "version": "1.2.3",
        "security_counter": 7,
        "boards": ["qemu-an386", "rpi4"],
        "input": {"shape": [1, 4], "dtype": "int8", "scale": 0.5, "zero_point": -3},
        "output": {"shape": [1, 3], "dtype": "int8", "scale": 1 / 256, "zero_point": -128},
        "labels": ["a", "b", "c"],
        "golden": {"count": 2, "tolerance": {"tinyfleet-mcu": 0, "tflm": 0, "litert": 1, "onnxruntime": 2}},
        "requirements": {"ops": ["FULLY_CONNECTED", "SOFTMAX"], "arena_bytes": 1234, "flash_bytes": 999},
        "metrics": {"accuracy_int8": 0.9},
    }
    m.update(over)
    return m


def artifacts() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    golden = GoldenSet(
        rng.integers(-128, 128, (2, 4), dtype=np.int8), rng.integers(-128, 128, (2, 3), dtype=np.int8)
    )
    return {
        "model.tflite": b"TFL3" + bytes(range(60)),
        "golden.bin": golden.pack(),
        "model_int8.onnx": b"onnx!",
    }
