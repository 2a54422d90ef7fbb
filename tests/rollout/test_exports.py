"""Every module of the engine and of server-side drift says what it exports: sorted, and all defined."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tinyfleet.server.drift
import tinyfleet.server.rollout

MODULES = [
    f"{pkg.__name__}.{m.name}"
    for pkg in (tinyfleet.server.rollout, tinyfleet.server.drift)
    for m in pkgutil.iter_modules(pkg.__path__)
]


def _isort_style(name: str) -> tuple[int, str]:
    """CONSTANTS first, then Classes, then functions (ruff RUF022, isort-style)."""
    if name.isupper():
        return (0, name)
    return (1 if name[:1].isupper() else 2, name)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_defined(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=_isort_style), name  # as ruff's RUF022 keeps it
    assert all(hasattr(module, n) for n in exported), name
