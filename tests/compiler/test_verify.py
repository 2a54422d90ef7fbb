from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyfleet.boards import get_board
from tinyfleet.compiler.flatbuffer import read_tflite
from tinyfleet.compiler.runtimes import tflm_arena_bytes, tflm_run
from tinyfleet.compiler.verify import board_check, evaluate
from tinyfleet.errors import DataError

KEYS = {
    "ops",
    "unsupported_ops",
    "tflm_arena_bytes",
    "model_bytes",
    "fits",
    "accuracy",
    "bitexact",
    "max_abs_diff",
}


@pytest.mark.mlperf
def test_verify_mlperf_models_on_qemu(mlperf_models: dict[str, Path], cli) -> None:
    budget = get_board("qemu-an386").arena_budget
    for name, path in mlperf_models.items():
        code, out, err = cli("model", "verify", path, "--board", "qemu-an386", "--json")
        assert code == 0, err
        r = json.loads(out)
        assert set(r) >= KEYS, name
        assert r["fits"] is True and r["unsupported_ops"] == [] and r["ops"]
        assert 0 < r["tflm_arena_bytes"] <= budget and r["model_bytes"] == path.stat().st_size
        assert r["accuracy"] is None and r["data"] == "random"
        if name != "ad":  # LiteRT's single-rounding FC path differs from TFLM on the AD model (reported)
            assert r["bitexact"] is True


def test_arena_is_the_smallest_that_works(mlperf_models: dict[str, Path]) -> None:
    from tinyfleet.compiler.runtimes import _probe

    path = mlperf_models["kws"]
    arena = tflm_arena_bytes(path.read_bytes())
    assert arena % 16 == 0
    assert _probe(str(path), 0, arena, check_hi=True)[0] == "ok"
    assert _probe(str(path), 0, arena - 16, check_hi=True)[0] in ("fail", "crash")


def test_verify_with_labelled_data(mlperf_models: dict[str, Path], tmp_path: Path, cli) -> None:
    blob = mlperf_models["kws"].read_bytes()
    info = read_tflite(blob)
    x = np.random.default_rng(3).integers(-128, 128, (6, 49, 10, 1), dtype=np.int8)
    y = np.argmax(tflm_run(blob, x), axis=1)  # labels TFLM agrees with: accuracy must be 1
    np.savez(tmp_path / "d.npz", x=x, y=y)
    code, out, err = cli(
        "model",
        "verify",
        mlperf_models["kws"],
        "--board",
        "nano33ble",
        "--data",
        tmp_path / "d.npz",
        "--json",
    )
    assert code == 0, err
    r = json.loads(out)
    assert (
        r["accuracy"] == {"tflm": 1.0, "litert_ref": 1.0} and r["samples"] == 6 and r["board"] == "nano33ble"
    )
    assert info.input.shape == (1, 49, 10, 1)


def test_board_check_reasons(odd_models: dict[str, Path]) -> None:
    ev = evaluate(odd_models["tanh"].read_bytes())
    mcu = board_check(ev, get_board("qemu-an386"))
    assert not mcu["fits"] and mcu["unsupported_ops"] == ["TANH"]
    assert mcu["unsupported_by"] == {"tinyfleet-mcu": ["TANH"], "tflm": []}
    assert board_check(ev, get_board("rpi4"))["fits"]
    big = evaluate(odd_models["big"].read_bytes())
    check = board_check(big, get_board("qemu-an386"))
    assert not check["fits"] and "model slot holds 458752" in check["reasons"][0]


def test_verify_refuses_and_flags(odd_models: dict[str, Path], tmp_path: Path, cli, one_error) -> None:
    code, out, err = cli("model", "verify", odd_models["float"], "--board", "rpi4")
    one_error(code, err, "not a full-integer int8 model")
    code, out, err = cli("model", "verify", odd_models["tanh"], "--board", "qemu-an386", "--json")
    assert code == 3 and json.loads(out)["unsupported_ops"] == ["TANH"]
    one_error(code, err, "does not fit qemu-an386", "unsupported ops (tinyfleet-mcu: TANH)")
    code, out, err = cli("model", "verify", odd_models["big"], "--board", "nano33ble")
    one_error(code, err, "does not fit nano33ble", "a model slot holds")
    bad = tmp_path / "bad.tflite"
    raw = bytearray(odd_models["tanh"].read_bytes())
    bad.write_bytes(bytes(raw[: len(raw) // 3]))
    code, out, err = cli("model", "verify", bad, "--board", "rpi4")
    one_error(code, err)
    (tmp_path / "junk.tflite").write_bytes(b"\x00" * 64)
    one_error(
        *cli("model", "verify", tmp_path / "junk.tflite", "--board", "rpi4")[::2], "not a TFLite flatbuffer"
    )
    one_error(*cli("model", "verify", tmp_path / "none.tflite", "--board", "rpi4")[::2], "does not exist")
    one_error(
        *cli("model", "verify", tmp_path / "m.onnx", "--board", "rpi4")[::2], "verified from their run folder"
    )
    one_error(*cli("model", "verify", odd_models["tanh"], "--board", "pdp11")[::2], "unknown board")
    code, _, err = cli("model", "verify", odd_models["tanh"], "--board", "rpi4", "--data", odd_models["x16"])
    assert code == 0, err
    np.savez(tmp_path / "wrong.npz", x=np.zeros((2, 5), np.float32))
    one_error(
        *cli("model", "verify", odd_models["tanh"], "--board", "rpi4", "--data", tmp_path / "wrong.npz")[::2],
        "each sample must have 16 values",
    )


def test_evaluate_refuses_damaged_model(odd_models: dict[str, Path]) -> None:
    raw = bytearray(odd_models["tanh"].read_bytes())
    raw[4:8] = b"XXXX"
    with pytest.raises(DataError):
        evaluate(bytes(raw))


def test_verify_json_stdout_is_one_object(mlperf_models: dict[str, Path], repo_root: Path) -> None:
    env = {**os.environ, "TINYFLEET_DEBUG": "0"}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "model",
            "verify",
            str(mlperf_models["ad"]),
            "--board",
            "qemu-an386",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=repo_root,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)  # nothing but the JSON object on stdout (no C++ allocator noise)
    assert r["ops"] == ["FULLY_CONNECTED"] and r["fits"] and "max_abs_diff" in r


@pytest.mark.slow
def test_damaged_models_are_refused_not_crashed(digits_package) -> None:
    """Random byte changes in a real model: verify either works or raises DataError, in-process."""
    blob = digits_package.tflite_path.read_bytes()
    rng = np.random.default_rng(11)
    refused = 0
    for _ in range(10):
        b = bytearray(blob)
        for _ in range(3):
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
        try:
            evaluate(bytes(b))
        except DataError:
            refused += 1
    assert refused >= 1
