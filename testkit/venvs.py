"""Clean virtual environments with tinyfleet installed from the working tree, for the packaging tests
and `bench/install.py`: ``pip install -c requirements/lock.txt 'SRC[extra]'`` into a new venv.

The source is copied first (without .venv, build output, egg-info), so pip's in-tree build leaves
nothing behind in the repository. pip's cache makes repeated installs fast.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["REPO", "copy_source", "make_venv", "site_packages", "tree_mb"]

REPO = Path(__file__).resolve().parent.parent
_SKIP_TOP = {".venv", ".git", "runs", ".cache", "test-results", "build", "dist", "tinyfleet-data"}


def _ignore(folder: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n.endswith(".egg-info") or n in {"__pycache__", ".pio", ".mypy_cache"}}
    if Path(folder).resolve() == REPO:
        skip |= {n for n in names if n in _SKIP_TOP}
    if Path(folder).name == "firmware":
        skip |= {"build"} & set(names)
    return skip


def copy_source(dest: Path) -> Path:
    """The working tree (symlinks kept) without build output, at ``dest``."""
    shutil.copytree(REPO, dest, symlinks=True, ignore=_ignore)
    return dest


def tree_mb(path: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            p = Path(root) / f
            if not p.is_symlink():
                total += p.stat().st_size
    return total / 1e6


def site_packages(venv: Path) -> Path:
    (site,) = venv.glob("lib/python3*/site-packages")
    return site


def make_venv(venv: Path, source: Path, extras: str, timeout: float = 1800) -> float:
    """Create ``venv``, install ``source[extras]`` pinned by the lock; returns the MB pip added
    (site-packages after minus the fresh venv's own pip/setuptools)."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    before = tree_mb(site_packages(venv))
    target = f"{source}[{extras}]" if extras else str(source)
    r = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-c", str(REPO / "requirements" / "lock.txt"), target],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if r.returncode != 0:
        raise RuntimeError(f"pip install {target} failed:\n{r.stdout[-2000:]}{r.stderr[-3000:]}")
    return tree_mb(site_packages(venv)) - before
