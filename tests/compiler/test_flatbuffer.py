from __future__ import annotations

from pathlib import Path

import pytest

from compiler.flatbuffer import read_tflite
from tinyfleet.errors import DataError


def test_mlperf_models_are_int8(mlperf_models: dict[str, Path]) -> None:
    expect = {"kws": {"DEPTHWISE_CONV_2D", "SOFTMAX"}, "vww": {"DEPTHWISE_CONV_2D"}, "ic": {"ADD"},
              "ad": {"FULLY_CONNECTED"}}
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
