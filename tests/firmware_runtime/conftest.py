"""Fixtures of the micro-runtime tests: the host build of the runtime and generated models."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent / "firmware" / "runtime" / "tools"))


@pytest.fixture(scope="session")
def host_lib() -> Path:
    """Build firmware/build/host/libtfrt.so (make skips it when up to date)."""
    from tinyfleet.hil.host_runtime import build_library

    return build_library()


@pytest.fixture(scope="session")
def generated_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small Keras models converted to full int8, built once per session."""
    import gen_models

    return gen_models.build_all(tmp_path_factory.mktemp("tfrt_models"))
