"""Fixtures shared by every test folder (tests/, hil/tests/)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
# The HIL plugin: the `board` fixture (emulated or real) and the --hil-* options (hil/plugin.py).
pytest_plugins = ["tinyfleet.hil.plugin"]
MLPERF_MODELS = {
    "kws": "kws_ref_model.tflite",
    "vww": "vww_96_int8.tflite",
    "ic": "pretrainedResnet_quant.tflite",
    "ad": "ad01_int8.tflite",
}


def _mlperf_dir() -> Path:
    env = os.environ.get("TINYFLEET_MLPERF_DIR")
    return Path(env) if env else REPO.parent / "shared" / "models" / "mlperf_tiny"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mlperf_dir() -> Path:
    """The MLPerf Tiny reference models folder (has `models/` and `samples/`)."""
    d = _mlperf_dir()
    if not (d / "models" / MLPERF_MODELS["kws"]).is_file():
        pytest.skip(
            f"MLPerf Tiny models absent: expected {d}/models/*.tflite "
            "(set TINYFLEET_MLPERF_DIR to the folder holding models/ and samples/)"
        )
    return d


@pytest.fixture(scope="session")
def mlperf_models(mlperf_dir: Path) -> dict[str, Path]:
    """Short name (kws, vww, ic, ad) -> path of the reference int8 .tflite."""
    return {k: mlperf_dir / "models" / v for k, v in MLPERF_MODELS.items()}


@pytest.fixture(scope="session")
def digits_package(tmp_path_factory: pytest.TempPathFactory):  # -> testkit.compiler.DigitsPackage
    """The digits example built once per session by the real pipeline, signed with a throwaway key.

    Fields: package_path, out_dir (model.tflite, model.c/.h, ONNX, report.json), public_key_path,
    private_key_path, keys_dir, trusted_keys (key id -> raw key), manifest. ``.variant(version,
    security_counter, failing_selftest=False)`` re-signs the same model as another release (no retraining).
    """
    from testkit.compiler import build_digits_package

    return build_digits_package(tmp_path_factory.mktemp("digits-package"))
