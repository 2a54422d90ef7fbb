"""DVC: a spec reading DVC-tracked data records DVC's md5 and the Git revision; the example pipeline
(examples/dvc.yaml) runs with ``dvc repro`` in a real DVC repository with a local remote (temp folders)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tinyfleet.compiler.datasets import load_dataset
from tinyfleet.compiler.dvc import dvc_lineage, find_dvc_root
from tinyfleet.compiler.spec import parse_spec
from tinyfleet.package import read_package
from tinyfleet.signing import init_keys, load_trusted_keys

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DVC = shutil.which("dvc", path=str(BIN)) or shutil.which("dvc")

pytestmark = pytest.mark.skipif(DVC is None, reason="dvc is installed by the lock")

SPEC = """
name = "digits"
version = "2.0.0"
[data]
source = "data/digits.npz"
input_shape = [8, 8, 1]
scale = 16.0
[train]
epochs = 2
seed = 3
[package]
boards = ["qemu-an386"]
"""


def _env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TINYFLEET_KEYS": str(root / "keys"),
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(root / "site-cache"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{' '.join(args)}: {r.stdout[-1500:]}\n{r.stderr[-3000:]}"
    return r.stdout


def _digits_npz(path: Path, n: int) -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=d.images[:n].astype(np.float32), y=d.target[:n].astype(np.int64))


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A Git + DVC repository with data/digits.npz tracked and pushed to a local remote."""
    root = tmp_path / "repo"
    root.mkdir()
    env = _env(tmp_path)
    init_keys(tmp_path / "keys")
    _run(["git", "init", "-q"], root, env)
    _run([DVC, "init", "-q"], root, env)  # type: ignore[list-item]
    _digits_npz(root / "data" / "digits.npz", 600)
    _run([DVC, "add", "-q", "data/digits.npz"], root, env)  # type: ignore[list-item]
    _run([DVC, "remote", "add", "-d", "local", str(tmp_path / "remote")], root, env)  # type: ignore[list-item]
    (root / "spec.toml").write_text(SPEC)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-q", "-m", "data v1"], root, env)
    _run([DVC, "push", "-q"], root, env)  # type: ignore[list-item]
    return root, env


def test_lineage_records_dvc_md5_and_rev(repo: tuple[Path, dict[str, str]]) -> None:
    root, env = repo
    data = root / "data" / "digits.npz"
    recorded = yaml.safe_load((root / "data" / "digits.npz.dvc").read_text())["outs"][0]["md5"]
    rev = _run(["git", "rev-parse", "HEAD"], root, env).strip()
    ds = load_dataset(parse_spec(SPEC, root).data)
    assert find_dvc_root(data) == root.resolve()
    assert ds.dvc is not None
    assert ds.dvc["md5"] == recorded == hashlib.md5(data.read_bytes()).hexdigest()
    assert ds.dvc["matches"] is True and ds.dvc["rev"] == rev
    assert ds.dvc["path"] == "data/digits.npz" and ds.dvc["recorded_in"] == "data/digits.npz.dvc"
    # the workspace changed after `dvc add`: read as is, and the record says it no longer matches
    _digits_npz(data, 500)
    ds2 = load_dataset(parse_spec(SPEC, root).data)
    assert ds2.dvc is not None and ds2.dvc["md5"] == recorded and ds2.dvc["matches"] is False
    assert len(ds2.y) == 500


def test_outside_dvc_nothing_is_recorded(tmp_path: Path) -> None:
    _digits_npz(tmp_path / "data" / "digits.npz", 100)
    assert dvc_lineage(tmp_path / "data" / "digits.npz", b"") is None
    assert load_dataset(parse_spec(SPEC, tmp_path).data).dvc is None


@pytest.mark.slow
def test_example_pipeline_runs_with_dvc_repro(repo: tuple[Path, dict[str, str]]) -> None:
    root, env = repo
    shutil.copy(REPO / "examples" / "dvc.yaml", root / "dvc.yaml")
    _run([DVC, "repro", "-q"], root, env)  # type: ignore[list-item]
    recorded = yaml.safe_load((root / "data" / "digits.npz.dvc").read_text())["outs"][0]["md5"]
    train = json.loads((root / "train" / "train.json").read_text())
    assert train["dataset"]["dvc"]["md5"] == recorded and train["dataset"]["dvc"]["matches"] is True
    pkg = read_package(
        root / "model.tfpkg", load_trusted_keys([root.parent / "keys" / "tinyfleet-signing.pub"])
    )
    assert pkg.manifest["training"]["dataset"]["dvc"]["md5"] == recorded
    verify = json.loads((root / "verify.json").read_text())
    assert verify["fits"] is True and verify["board"] == "qemu-an386"
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"train", "package", "verify"}
    # everything is up to date, and the outputs go to the local remote
    status = _run([DVC, "status", "--json"], root, env)  # type: ignore[list-item]
    assert json.loads(status) == {}
    _run([DVC, "push", "-q"], root, env)  # type: ignore[list-item]
    pkg_md5 = next(o["md5"] for o in lock["stages"]["package"]["outs"] if o["path"] == "model.tfpkg")
    assert (root.parent / "remote" / "files" / "md5" / pkg_md5[:2] / pkg_md5[2:]).is_file()
