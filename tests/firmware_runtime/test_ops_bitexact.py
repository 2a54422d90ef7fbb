"""Every operator of the micro runtime equals TFLM bit for bit on small generated int8 models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import synth_tflite as synth
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from tinyfleet.hil.host_runtime import HostModel, supported_ops, tflm_outputs

OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
KERAS_MODELS = [
    "conv_family",
    "depthwise_family",
    "pools",
    "add_mul",
    "mean_pad_concat",
    "dense_softmax",
    "softmax_saturating",
    "dense_logistic",
    "dynamic_batch",
    "float_output",
]


def _ops_of(blob: bytes) -> set[str]:
    m = schema.Model.GetRootAsModel(blob, 0)
    g = m.Subgraphs(0)
    names = set()
    for i in range(g.OperatorsLength()):
        oc = m.OperatorCodes(g.Operators(i).OpcodeIndex())
        names.add(OP_NAMES[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())])
    return names


def _assert_bit_exact(blob: bytes, n_random: int = 24, seed: int = 7) -> HostModel:
    model = HostModel(blob)
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, size=model.input.shape, dtype=np.int8) for _ in range(n_random)]
    xs += [np.full(model.input.shape, v, np.int8) for v in (-128, 0, 127)]
    for i, (x, want) in enumerate(zip(xs, tflm_outputs(blob, xs), strict=True)):
        got = model.invoke(x)
        assert got.dtype == want.dtype and got.shape == want.shape
        # float outputs compared as bits: "equal" means the same float32 pattern
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), f"input {i}: {got} != {want}"
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", KERAS_MODELS)
def test_generated_model_is_bit_exact(name: str, host_lib: Path, generated_models: dict[str, Path]) -> None:
    _assert_bit_exact(generated_models[name].read_bytes())


@pytest.mark.slow
def test_generated_models_cover_every_supported_op(host_lib: Path, generated_models: dict[str, Path]) -> None:
    seen: set[str] = set()
    for name in KERAS_MODELS:
        seen |= _ops_of(generated_models[name].read_bytes())
    for blob in (
        synth.squeeze_model(),
        synth.expand_dims_model(),
        synth.requantize_model(0.05, 3, 0.013, -20),
        synth.relu_model("RELU", 0.05, 3, 0.03, -128),
        synth.relu_model("RELU6", 0.05, -10, 0.05, -10),
    ):
        seen |= _ops_of(blob)
    assert set(supported_ops()) <= seen, sorted(set(supported_ops()) - seen)


def test_float_output_ends_in_dequantize(host_lib: Path, generated_models: dict[str, Path]) -> None:
    blob = generated_models["float_output"].read_bytes()
    assert "DEQUANTIZE" in _ops_of(blob)
    assert HostModel(blob).output.dtype == np.float32


def test_keras_shape_ops_are_run(host_lib: Path, generated_models: dict[str, Path]) -> None:
    ops = _ops_of(generated_models["dynamic_batch"].read_bytes())
    assert {"SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE", "EXPAND_DIMS"} <= ops


VARIANTS = synth.variant_models()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_operator_variant_is_bit_exact(name: str, host_lib: Path) -> None:
    _assert_bit_exact(VARIANTS[name], n_random=8)


@pytest.mark.parametrize("axes", [[1, 2], [2], [3], [1, 2, 3], [0, 1]], ids=str)
@pytest.mark.parametrize("keep_dims", [True, False])
@pytest.mark.parametrize("same_quant", [True, False])
def test_mean_is_bit_exact(axes: list[int], keep_dims: bool, same_quant: bool, host_lib: Path) -> None:
    _assert_bit_exact(synth.mean_model(axes, keep_dims, same_quant), n_random=8)


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(synth.squeeze_model(), id="squeeze"),
        pytest.param(synth.expand_dims_model(), id="expand_dims"),
        pytest.param(synth.requantize_model(0.05, 3, 0.013, -20), id="requant_up"),
        pytest.param(synth.requantize_model(0.01, -128, 0.3, 100), id="requant_down"),
        pytest.param(synth.requantize_model(0.02, 0, 0.02, 0), id="requant_identity"),
        pytest.param(synth.relu_model("RELU", 0.05, 3, 0.03, -128), id="relu_rescale"),
        pytest.param(synth.relu_model("RELU", 0.1, 5, 0.1, 5), id="relu_same_scale"),
        pytest.param(synth.relu_model("RELU6", 0.05, -10, 0.05, -10), id="relu6"),
        pytest.param(synth.relu_model("RELU6", 0.01, 0, 0.01, 0), id="relu6_saturating"),
        pytest.param(synth.conv_model(0), id="conv_per_channel_bias_relu6"),
        pytest.param(synth.conv_model(1, depthwise=True), id="depthwise_multiplier2_relu6"),
    ],
)
def test_single_op_model_is_bit_exact(blob: bytes, host_lib: Path) -> None:
    _assert_bit_exact(blob)
