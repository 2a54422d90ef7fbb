"""DVC-tracked data: what a run records about a ``data.source`` that lives inside a DVC repository.

The file is read as it is in the workspace (DVC is not needed to train). This module only finds the
DVC repository around it and reads DVC's own records of it, so the run can say which data version it
used: the md5 DVC recorded (from ``FILE.dvc`` or a ``dvc.lock`` stage output), the md5 of the bytes
actually read, whether they agree, and the Git revision of the repository (when it is a Git repo).
DVC's md5 of a file is the MD5 of its bytes (DVC 3).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["dvc_lineage", "find_dvc_root", "recorded_md5"]


def find_dvc_root(path: Path) -> Path | None:
    """The nearest folder above ``path`` holding a ``.dvc/`` folder (a DVC repository), or None."""
    for folder in Path(path).resolve().parents:
        if (folder / ".dvc").is_dir():
            return folder
    return None


def _load_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _md5_of(out: Any) -> str | None:
    if isinstance(out, dict) and isinstance(out.get("md5"), str):
        return str(out["md5"])
    return None


def recorded_md5(path: Path, root: Path) -> tuple[str | None, str | None]:
    """(md5, where) DVC recorded for ``path``: its ``.dvc`` file, else a ``dvc.lock`` output."""
    path = path.resolve()
    dvc_file = path.with_name(path.name + ".dvc")
    if dvc_file.is_file():
        doc = _load_yaml(dvc_file)
        for out in (doc or {}).get("outs") or [] if isinstance(doc, dict) else []:
            if isinstance(out, dict) and (dvc_file.parent / str(out.get("path", ""))).resolve() == path:
                return _md5_of(out), str(dvc_file.relative_to(root))
    for lock in sorted(root.rglob("dvc.lock")):
        if ".dvc" in lock.relative_to(root).parts:
            continue
        doc = _load_yaml(lock)
        stages = (doc or {}).get("stages") if isinstance(doc, dict) else None
        for stage in (stages or {}).values():
            for out in (stage or {}).get("outs") or [] if isinstance(stage, dict) else []:
                if isinstance(out, dict) and (lock.parent / str(out.get("path", ""))).resolve() == path:
                    return _md5_of(out), str(lock.relative_to(root))
    return None, None


def _git_rev(root: Path) -> str | None:
    try:
        r = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    rev = r.stdout.strip()
    return rev if r.returncode == 0 and len(rev) == 40 else None


def dvc_lineage(path: Path, raw: bytes) -> dict[str, Any] | None:
    """What a run records about data file ``path`` (whose bytes are ``raw``); None outside DVC."""
    root = find_dvc_root(path)
    if root is None:
        return None
    md5, where = recorded_md5(path, root)
    actual = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    return {
        "path": str(path.resolve().relative_to(root)),
        "md5": md5,  # what DVC recorded; None: the file is in a DVC repo but not tracked
        "recorded_in": where,
        "workspace_md5": actual,
        "matches": md5 == actual,
        "rev": _git_rev(root),
    }
