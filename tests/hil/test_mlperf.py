"""MLPerf Tiny KWS and AD on the board: every output equal to TFLM's (the models come from
$TINYFLEET_MLPERF_DIR; the test skips with the reason when they are absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyfleet.compiler.flatbuffer import read_tflite
from tinyfleet.compiler.runtimes import tflm_run
from tinyfleet.hil.device import BoardLink
from tinyfleet.hil.packaging import make_package

pytestmark = [pytest.mark.qemu, pytest.mark.mlperf, pytest.mark.slow]


@pytest.mark.parametrize("short", ["kws", "ad"])
def test_mlperf_model_bitexact_on_board(
    short: str, mlperf_models: dict[str, Path], link: BoardLink, hil_signing_key
) -> None:
    blob = mlperf_models[short].read_bytes()
    shape = read_tflite(blob).input.shape
    x = np.random.default_rng(11).integers(-128, 128, size=(3, *shape[1:]), dtype=np.int8)
    y = tflm_run(blob, x)
    # one golden record keeps the OTA short (AD is a 270 KB model over a ~10 KB/s emulated UART)
    link.install(
        make_package(
            blob, hil_signing_key, x[:1].reshape(1, -1), golden_outputs=y[:1], name=f"mlperf-{short}"
        )
    )
    info = link.info()
    assert info.model_name == f"mlperf-{short}"
    assert 0 < info.arena_used <= info.arena_size
    for i in range(len(x)):
        out, ticks = link.infer(x[i].tobytes())
        assert np.array_equal(np.frombuffer(out, dtype=np.int8), y[i]), f"{short} input {i} differs from TFLM"
        assert ticks > 0
