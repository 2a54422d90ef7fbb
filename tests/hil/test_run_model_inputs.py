"""run-model's pure parts: MAC counting and input checking (no board needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyfleet.errors import DataError
from tinyfleet.hil.macs import count_macs
from tinyfleet.hil.run_model import load_inputs


def test_macs_of_the_anomaly_detection_autoencoder(mlperf_models: dict[str, Path]) -> None:
    # AD01: dense 640-128-128-128-128-8-128-128-128-128-640
    widths = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    expected = sum(a * b for a, b in zip(widths, widths[1:], strict=False))
    assert count_macs(mlperf_models["ad"].read_bytes()) == expected == 264192


def test_macs_of_the_conv_models_match_the_published_sizes(mlperf_models: dict[str, Path]) -> None:
    # MLPerf Tiny (Banbury et al. 2021): KWS DS-CNN 2.7 M, VWW MobileNetV1-0.25 7.5 M, IC ResNet-8 12.5 M
    assert round(count_macs(mlperf_models["kws"].read_bytes()) / 1e5) == 27
    assert round(count_macs(mlperf_models["vww"].read_bytes()) / 1e5) == 75
    assert round(count_macs(mlperf_models["ic"].read_bytes()) / 1e5) == 125


def test_macs_refuses_a_non_model() -> None:
    with pytest.raises(DataError):
        count_macs(b"not a flatbuffer at all")


@pytest.mark.parametrize(
    ("array", "shape", "rows"),
    [
        (np.zeros((3, 8, 8, 1), np.int8), (1, 8, 8, 1), 3),
        (np.zeros((5, 64), np.int8), (1, 8, 8, 1), 5),
        (np.zeros((1, 8, 8, 1), np.int8), (1, 8, 8, 1), 1),
        (np.zeros((8, 8, 1), np.int8), (1, 8, 8, 1), 1),
    ],
)
def test_inputs_accepted_shapes(tmp_path: Path, array: np.ndarray, shape: tuple[int, ...], rows: int) -> None:
    np.save(tmp_path / "x.npy", array)
    x = load_inputs(tmp_path / "x.npy", shape)
    assert x.shape == (rows, 64) and x.dtype == np.int8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (np.zeros((2, 64), np.float32), "must be int8"),
        (np.zeros((2, 63), np.int8), "does not match the model input"),
    ],
)
def test_inputs_refused(tmp_path: Path, content: np.ndarray, message: str) -> None:
    np.save(tmp_path / "x.npy", content)
    with pytest.raises(DataError, match=message):
        load_inputs(tmp_path / "x.npy", (1, 8, 8, 1))


def test_inputs_not_npy(tmp_path: Path) -> None:
    (tmp_path / "x.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a .npy"):
        load_inputs(tmp_path / "x.npy", (1, 8, 8, 1))


def test_a_runs_own_data_npz_is_quantized(tmp_path: Path) -> None:
    """A run folder's data.npz (float x_val) is taken as is and quantized with the input scale."""
    rng = np.random.default_rng(0)
    x_val = rng.uniform(0, 16, (5, 8, 8, 1)).astype(np.float32)
    np.savez(
        tmp_path / "data.npz", x_train=np.zeros((3, 8, 8, 1), np.float32), x_val=x_val, y_val=np.arange(5)
    )
    x = load_inputs(tmp_path / "data.npz", (1, 8, 8, 1), scale=0.0625, zero_point=-128)
    want = np.clip(np.round(x_val.reshape(5, 64) / 0.0625) - 128, -128, 127).astype(np.int8)
    assert x.dtype == np.int8 and np.array_equal(x, want)
    with pytest.raises(DataError, match="no input array"):
        np.savez(tmp_path / "other.npz", a=np.zeros(3), b=np.zeros(3))
        load_inputs(tmp_path / "other.npz", (1, 8, 8, 1), scale=0.1, zero_point=0)
    with pytest.raises(DataError, match="NaN"):
        np.save(tmp_path / "nan.npy", np.full((1, 64), np.nan, np.float32))
        load_inputs(tmp_path / "nan.npy", (1, 8, 8, 1), scale=0.1, zero_point=0)
