from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest

from tinyfleet.compiler.flatbuffer import read_tflite
from tinyfleet.errors import DataError


def test_mlperf_models_are_int8(mlperf_models: dict[str, Path]) -> None:
    expect = {
        "kws": {"DEPTHWISE_CONV_2D", "SOFTMAX"},
        "vww": {"DEPTHWISE_CONV_2D"},
        "ic": {"ADD"},
        "ad": {"FULLY_CONNECTED"},
    }
    for name, path in mlperf_models.items():
        info = read_tflite(path.read_bytes(), name)
        info.require_int8(name)
        assert expect[name] <= set(info.ops)
        assert info.input.dtype == info.output.dtype == "int8" and info.size == path.stat().st_size
    kws = read_tflite(mlperf_models["kws"].read_bytes())
    assert kws.input.shape == (1, 49, 10, 1) and kws.output.shape == (1, 12)
    assert kws.output.scale == pytest.approx(1 / 256) and kws.output.zero_point == -128


def test_not_a_model_and_damaged_models(mlperf_models: dict[str, Path]) -> None:
    with pytest.raises(DataError, match="no TFL3 identifier"):
        read_tflite(b"hello world, not a model at all", "x")
    blob = mlperf_models["kws"].read_bytes()
    with pytest.raises(DataError):
        read_tflite(blob[:200], "truncated")


def test_float_model_is_not_int8(odd_models: dict[str, Path]) -> None:
    info = read_tflite(odd_models["float"].read_bytes(), "float.tflite")
    with pytest.raises(DataError, match="not a full-integer int8 model"):
        info.require_int8("float.tflite")


def test_damaged_bytes_never_crash_the_reader(mlperf_models: dict[str, Path]) -> None:
    blob = mlperf_models["kws"].read_bytes()
    rng = np.random.default_rng(5)
    head = 4096  # the flatbuffer's tables and vectors; weights follow
    for _ in range(300):
        b = bytearray(blob)
        for _ in range(4):
            b[int(rng.integers(min(head, len(b))))] = int(rng.integers(256))
        with contextlib.suppress(DataError):
            read_tflite(bytes(b))
