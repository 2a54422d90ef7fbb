"""The MLPerf Tiny / EEMBC device-under-test text commands on the board, as the standard runner
sends them (docs: mlperf-tiny DUT protocol): the same UART as the binary frames."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfleet.hil.device import BoardLink
from tinyfleet.serialproto import SerialClient

pytestmark = pytest.mark.qemu


def test_runner_commands_load_infer_results(link: BoardLink, digits: dict, digits_package) -> None:
    link.install(digits["package"])
    client = SerialClient(link.ser, timeout=30.0)
    assert client.text("name") == ["m-name-dut-[tinyfleet]"]
    assert "m-model-[digits]" in client.text("profile")
    x, y = digits["x"][0], digits["y"][0]
    assert client.text(f"db load {x.size}") == [f"m-[Expecting {x.size} bytes]"]
    raw = x.tobytes()
    replies: list[str] = []
    for i in range(0, len(raw), 31):  # the runner sends 31 bytes per command
        replies += client.text("db " + raw[i : i + 31].hex())
    assert replies[-1] == "m-load-done"
    lines = client.text("infer 1 0")
    assert "m-infer-done" in lines and any(line.startswith("m-lap-us-") for line in lines)
    results = client.text("results")
    assert len(results) == 1 and results[0].startswith("m-results-[")
    scores = [float(v) for v in results[0][len("m-results-[") : -1].split(",")]
    out = digits_package.manifest["output"]
    expected = (y.astype(np.float64) - out["zero_point"]) * out["scale"]
    assert np.allclose(scores, expected, atol=0.0015)  # 3 decimals of TFLM's output
