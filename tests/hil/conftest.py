"""Fixtures of the HIL tests (the `board` fixture itself comes from hil/plugin.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.hil.plugin import HilBoard
from tinyfleet.package import read_package


@pytest.fixture
def link(board: HilBoard) -> Iterator[object]:
    from tinyfleet.hil.device import BoardLink

    with BoardLink.open(board.url) as lk:
        lk.wait_ready()
        yield lk


@pytest.fixture(scope="session")
def digits(digits_package) -> dict[str, object]:
    """The digits package bytes, its model, and test inputs with TFLM's outputs."""
    from tinyfleet.compiler.runtimes import tflm_run

    pkg = read_package(digits_package.package_path, digits_package.trusted_keys)
    tflite = pkg.artifact("model.tflite")
    x = pkg.golden.inputs
    rng = np.random.default_rng(7)
    x = np.concatenate([x, rng.integers(-128, 128, size=(4, x.shape[1]), dtype=np.int8)])
    shape = tuple(pkg.manifest["input"]["shape"])
    y = tflm_run(tflite, x.reshape((len(x), *shape[1:])))
    return {"package": digits_package.package_path.read_bytes(), "tflite": tflite, "x": x, "y": y}


@pytest.fixture(scope="session")
def digits_release(digits_package, tmp_path_factory: pytest.TempPathFactory):
    """``release(version, counter, failing_selftest=False) -> bytes``: re-signed digits packages."""
    out = tmp_path_factory.mktemp("digits-releases")

    def release(version: str, counter: int, failing_selftest: bool = False) -> bytes:
        path = digits_package.variant(
            version,
            counter,
            failing_selftest=failing_selftest,
            out=out / f"d-{version}-{counter}-{int(failing_selftest)}.tfpkg",
        )
        return Path(path).read_bytes()

    return release


@pytest.fixture(scope="session")
def signing_key(hil_signing_key: Ed25519PrivateKey) -> Ed25519PrivateKey:
    return hil_signing_key
