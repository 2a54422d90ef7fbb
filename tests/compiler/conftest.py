"""Helpers for the compiler tests: run the CLI in-process and check the one-line error policy."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tinyfleet.cli.main import main

CliRun = Callable[..., tuple[int, str, str]]


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str]) -> CliRun:
    """cli("model", "verify", ...) -> (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture()
def one_error() -> Callable[..., None]:
    """one_error(code, stderr, *needles): non-zero exit, no traceback, last line `error: ...` with needles."""
    return assert_one_error


def assert_one_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: "), err
    for n in needles:
        assert n in last, last


@pytest.fixture(scope="session")
def odd_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Small .tflite files that must be refused or flagged: float, an op the MCU runtime lacks, too big."""
    import numpy as np

    from tinyfleet.compiler.quantize import quantize_model
    from tinyfleet.compiler.runtimes import quiet_native
    from tinyfleet.compiler.train import prepare_tensorflow

    tf = prepare_tensorflow(0)
    import keras

    d = tmp_path_factory.mktemp("odd-models")
    rep = np.random.default_rng(0).normal(size=(8, 16)).astype(np.float32)
    tanh = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)]
    )
    (d / "tanh.tflite").write_bytes(quantize_model(tanh, rep))
    big = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(1024), keras.layers.Dense(512), keras.layers.Dense(3)]
    )
    (d / "big.tflite").write_bytes(quantize_model(big, rep))
    conv = tf.lite.TFLiteConverter.from_keras_model(tanh)
    with quiet_native((1, 2)):
        (d / "float.tflite").write_bytes(conv.convert())
    np.savez(d / "x16.npz", x=rep)
    return {
        "dir": d,
        "tanh": d / "tanh.tflite",
        "big": d / "big.tflite",
        "float": d / "float.tflite",
        "x16": d / "x16.npz",
    }
