"""The contract modules (``tinyfleet/*.py``) export exactly their public names: ``__all__`` is sorted,
every name in it exists, and every public function, class or constant the module defines is in it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import tinyfleet

CONTRACT = sorted(
    p.stem
    for p in Path(tinyfleet.__file__).parent.glob("*.py")
    if p.stem != "__init__" and not p.is_symlink()
)


def _isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions, each alphabetical."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def _defined(source: str) -> set[str]:
    """Public names bound at module level by def, class or assignment (imports are not definitions)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            if isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "TypeVar":
                continue  # a type variable is a tool of the module's own annotations
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def test_the_contract_modules_are_found() -> None:
    assert {"boards", "catalogue", "errors", "package", "states", "wire"} <= set(CONTRACT)


@pytest.mark.parametrize("name", CONTRACT)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(f"tinyfleet.{name}")
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"tinyfleet.{name} has no __all__"
    assert list(exported) == sorted(exported, key=_isort_key), f"tinyfleet.{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported), f"tinyfleet.{name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == [], f"tinyfleet.{name}.__all__ names what it does not have: {missing}"
    source = Path(module.__file__ or "").read_text("utf-8")
    unexported = sorted(_defined(source) - set(exported) - {"log"})  # a module's logger is not API
    assert unexported == [], f"tinyfleet.{name} defines public names missing from __all__: {unexported}"
