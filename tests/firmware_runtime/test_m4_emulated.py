"""The runtime built for the Cortex-M4F (DSP SIMD inner loops) under QEMU equals TFLM bit for bit."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import synth_tflite as synth

from tinyfleet.hil.host_runtime import HostModel, m4_check, tflm_outputs

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
        reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh installs both)",
    ),
]


def _check(blob: bytes, x: np.ndarray) -> None:
    result = m4_check(blob, x)
    want = tflm_outputs(blob, [x])[0]
    assert result.dsp_mismatches == 0
    assert result.output == want.tobytes()
    assert result.arena_bytes == HostModel(blob).arena_required
    assert result.instructions > result.macs  # at least one instruction per MAC


@pytest.mark.slow
@pytest.mark.mlperf
@pytest.mark.parametrize("name", ["kws", "ad"])
def test_mlperf_model_on_emulated_m4_is_bit_exact(name: str, mlperf_models: dict[str, Path]) -> None:
    blob = mlperf_models[name].read_bytes()
    shape = HostModel(blob).input.shape
    x = np.random.default_rng(99).integers(-128, 128, size=shape, dtype=np.int8)
    _check(blob, x)


@pytest.mark.slow
@pytest.mark.parametrize("depthwise", [False, True])
def test_conv_on_emulated_m4_is_bit_exact(depthwise: bool) -> None:
    blob = synth.conv_model(5, depthwise=depthwise)
    x = np.random.default_rng(5).integers(-128, 128, size=(1, 9, 8, 3), dtype=np.int8)
    _check(blob, x)
