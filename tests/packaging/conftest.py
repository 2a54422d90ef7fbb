"""Fixtures of the packaging tests: a copy of the source tree to build from, and a tiny real model
package (one SOFTMAX operator, built without TensorFlow) that LiteRT loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.tinypkg import TinyPackage, make_tiny_package
from testkit.venvs import copy_source


@pytest.fixture(scope="session")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree without build output, so pip/build leave nothing behind in the repository."""
    return copy_source(tmp_path_factory.mktemp("src") / "tinyfleet")


@pytest.fixture(scope="session")
def tiny_package(tmp_path_factory: pytest.TempPathFactory) -> TinyPackage:
    return make_tiny_package(tmp_path_factory.mktemp("tinypkg"))
