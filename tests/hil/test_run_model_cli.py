"""`tinyfleet hil run-model` end to end on the emulated board, with the digits model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyfleet.compiler.runtimes import tflm_run
from tinyfleet.hil.macs import count_macs

pytestmark = [pytest.mark.qemu, pytest.mark.slow]


def test_run_model_json_and_saved_outputs(tmp_path: Path, digits_package) -> None:
    tflite = digits_package.tflite_path
    x = np.random.default_rng(5).integers(-128, 128, size=(4, 8, 8, 1), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "hil",
            "run-model",
            str(tflite),
            "--inputs",
            str(tmp_path / "x.npy"),
            "--json",
            "--save-outputs",
            str(tmp_path / "y.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["bitexact"] is True and report["mismatches"] == []
    assert report["macs"] == count_macs(tflite.read_bytes()) > 0
    assert report["instructions_per_inference"] > report["macs"]  # at least one instruction per MAC
    assert 0 < report["arena_bytes"] <= 196608
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.int8 and np.array_equal(y, tflm_run(tflite.read_bytes(), x))


def test_run_model_quantizes_float_inputs(tmp_path: Path, digits_package) -> None:
    """Float inputs are quantized with the model's input scale and zero point (280f433), then run."""
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8, 1), np.float32))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "hil",
            "run-model",
            str(digits_package.tflite_path),
            "--inputs",
            str(tmp_path / "x.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "bit-exact: yes" in r.stdout
