"""The host build of the micro runtime equals TFLM bit for bit on the MLPerf Tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyfleet.hil.host_runtime import HostModel, tflm_outputs

pytestmark = pytest.mark.mlperf

# Layer-by-layer MACs of the reference models (conv: out elements x kh x kw x in channels,
# depthwise: out elements x kh x kw, dense: out x in), as the MLPerf Tiny papers count them.
EXPECTED_MACS = {"kws": 2_656_768, "vww": 7_489_664, "ic": 12_501_632, "ad": 264_192}


def _inputs(name: str, model: HostModel, mlperf_dir: Path) -> list[np.ndarray]:
    rng = np.random.default_rng(1234)
    xs = [rng.integers(-128, 128, size=model.input.shape, dtype=np.int8) for _ in range(3)]
    xs.append(np.full(model.input.shape, -128, np.int8))
    xs.append(np.full(model.input.shape, 127, np.int8))
    samples = mlperf_dir / "samples"
    if name == "kws":
        raw = np.fromfile(samples / "kws01_sample_input_int8_49x10.bin", dtype=np.int8)
        xs.append(raw.reshape(model.input.shape))
    if name == "ad":
        frames = np.fromfile(samples / "ad01_normal_id_01_00000000_hist_librosa.bin", dtype="<f4")
        frames = frames.reshape(200, 128)
        for start in (0, 57, 195):
            window = frames[start : start + 5].reshape(model.input.shape)
            q = np.round(window / model.input.scale) + model.input.zero_point
            xs.append(np.clip(q, -128, 127).astype(np.int8))
    return xs


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kws", "vww", "ic", "ad"])
def test_mlperf_model_is_bit_exact_with_tflm(
    name: str, host_lib: Path, mlperf_models: dict[str, Path], mlperf_dir: Path
) -> None:
    blob = mlperf_models[name].read_bytes()
    model = HostModel(blob)
    xs = _inputs(name, model, mlperf_dir)
    expected = tflm_outputs(blob, xs)
    for i, (x, want) in enumerate(zip(xs, expected, strict=True)):
        got = model.invoke(x)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want), f"{name} input {i}: {got.ravel()} != {want.ravel()}"
    assert model.macs == EXPECTED_MACS[name]


def test_kws_sample_is_classified_as_documented(
    host_lib: Path, mlperf_models: dict[str, Path], mlperf_dir: Path
) -> None:
    model = HostModel(mlperf_models["kws"].read_bytes())
    raw = np.fromfile(mlperf_dir / "samples" / "kws01_sample_input_int8_49x10.bin", dtype=np.int8)
    y = model.invoke(raw.reshape(model.input.shape)).ravel()
    assert y[5] == 127 and int(np.sum(y == -128)) == 11
