"""Retrain on captured data + champion/challenger: a real digits champion, drifted captured data,
the CLI end to end (MLflow store in a temp folder), a refusal and the bad inputs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from tinyfleet.capture import write_dataset
from tinyfleet.compiler.challenge import Scores, calibration_error, compare, per_class_accuracy
from tinyfleet.package import read_package
from tinyfleet.signing import init_keys, load_trusted_keys

# MLflow reads its SQLite store through SQLAlchemy 2.1, which deprecates a loader MLflow uses
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")

SPEC = """
name = "digits"
version = "1.0.0"
[data]
source = "digits"
[train]
epochs = 10
seed = 11
[package]
boards = ["qemu-an386"]
"""


@dataclass
class Champ:
    root: Path
    env: dict[str, str]
    pkg: Path
    manifest: dict


def _cli(args: list[str], root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinyfleet.cli.main", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def champ(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Champ]:
    root = tmp_path_factory.mktemp("retrain")
    init_keys(root / "keys")
    env = {**os.environ, "TINYFLEET_KEYS": str(root / "keys")}
    (root / "spec.toml").write_text(SPEC)
    r = _cli(["model", "build", "spec.toml", "--out", "champ"], root, env)
    assert r.returncode == 0, r.stderr[-2000:]
    pkg = root / "champ" / "digits-1.0.0.tfpkg"
    m = read_package(pkg, load_trusted_keys([root / "keys" / "tinyfleet-signing.pub"])).manifest
    yield Champ(root, env, pkg, m)


def _captured(champ: Champ, name: str, transform, labels_of, n: int = 400, seed: int = 0) -> Path:
    """Digits as a device running the champion would capture them (int8 in its input quantization)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    idx = np.random.default_rng(seed).permutation(len(d.target))[:n]
    raw = transform(d.images[idx].astype(np.float64))
    inp = champ.manifest["input"]
    q = np.clip(np.round(raw / 16.0 / inp["scale"]) + inp["zero_point"], -128, 127).astype(np.int8)
    y = labels_of(d.target[idx].astype(np.int64))
    blob = write_dataset(
        q.reshape(n, 8, 8, 1),
        np.zeros((n, 10), np.int8),
        y,
        np.asarray(["sim"] * n),
        inp["scale"],
        inp["zero_point"],
        "digits@1.0.0",
        [str(i) for i in range(10)],
    )
    path = champ.root / f"{name}.npz"
    path.write_bytes(blob)
    return path


@pytest.mark.slow
def test_challenger_learns_the_drift_and_records_lineage(champ: Champ) -> None:
    data = _captured(champ, "inverted", lambda x: 16.0 - x, lambda y: y)
    r = _cli(
        [
            "model",
            "retrain",
            "spec.toml",
            "--add-data",
            str(data),
            "--champion",
            str(champ.pkg),
            "--out",
            "chall",
            "--mlflow",
            "--json",
        ],
        champ.root,
        champ.env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    ch, cc = report["champion"]["scores"], report["challenger"]["scores"]
    assert report["verdict"]["publishable"] and report["verdict"]["challenger_wins"]
    assert cc["captured"]["accuracy"] > ch["captured"]["accuracy"] + 0.2  # learned the inverted digits
    assert cc["original"]["accuracy"] >= ch["original"]["accuracy"] - 0.01
    assert ch["original"]["n"] == cc["original"]["n"] == 359  # the same original validation set
    assert ch["captured"]["n"] == 120 and report["drift"]["psi"] > 0.25  # inverted inputs drift hard
    version = hashlib.sha256(data.read_bytes()).hexdigest()
    lineage = [{"dataset": version, "model": "digits@1.0.0", "samples": 400, "train": 280, "holdout": 120}]
    assert report["lineage"] == lineage
    out = champ.root / "chall"
    pkg = read_package(
        out / "digits-1.1.0.tfpkg", load_trusted_keys([champ.root / "keys" / "tinyfleet-signing.pub"])
    )
    assert pkg.manifest["lineage"] == lineage
    assert pkg.manifest["training"]["dataset"]["added"] == lineage
    assert pkg.manifest["training"]["dataset"]["n_train"] == 1438 + 280
    # the MLflow run links up: its id is in the manifest, lineage and challenge are logged
    from mlflow import MlflowClient

    uri = f"sqlite:///{champ.root / 'mlruns' / 'mlflow.db'}"
    run = MlflowClient(tracking_uri=uri).get_run(pkg.manifest["tracking"]["mlflow_run_id"])
    assert run.data.params["dataset.added.0"] == version
    assert run.data.tags["tinyfleet.challenge"] == "publishable"
    assert run.data.metrics["challenger.captured.accuracy"] == pytest.approx(cc["captured"]["accuracy"])
    assert (out / "challenge.json").is_file()


@pytest.mark.slow
def test_worse_challenger_is_refused_and_nothing_written(champ: Champ) -> None:
    wrong = _captured(champ, "mislabelled", lambda x: x, lambda y: (y + 1) % 10, n=1797, seed=1)
    r = _cli(
        [
            "model",
            "retrain",
            "spec.toml",
            "--add-data",
            str(wrong),
            "--champion",
            str(champ.pkg),
            "--out",
            "bad",
            "--holdout",
            "0.1",
        ],
        champ.root,
        champ.env,
    )
    assert r.returncode == 4, r.stderr[-3000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: challenger not publishable: the challenger is worse than the champion")
    assert "REFUSED" in r.stderr
    assert not (champ.root / "bad").exists()
    assert not any(p.name.startswith(".bad") for p in champ.root.iterdir())


def test_bad_inputs_are_one_error(champ: Champ) -> None:
    unl = _captured(champ, "unlabelled", lambda x: x, lambda y: np.full_like(y, -1), n=50)
    cases = [
        (["--add-data", str(unl)], "dataset", "unlabelled sample(s)"),
        (
            ["--add-data", "ab" * 32, "--server", "http://127.0.0.1:9", "--token", "t"],
            "",
            "cannot reach the fleet server",
        ),
        (["--add-data", "nope"], "", "neither a .npz file nor a dataset version"),
    ]
    for extra, _, text in cases:
        r = _cli(
            ["model", "retrain", "spec.toml", "--champion", str(champ.pkg), "--out", "x", *extra],
            champ.root,
            champ.env,
        )
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and text in lines[-1], r.stderr
        assert "Traceback" not in r.stderr
    r = _cli(
        [
            "model",
            "retrain",
            "spec.toml",
            "--champion",
            str(champ.pkg),
            "--out",
            "x",
            "--add-data",
            str(unl),
            "--version",
            "1.0.0",
        ],
        champ.root,
        champ.env,
    )
    assert r.returncode == 2 and "must be above the champion's 1.0.0" in r.stderr
    assert not (champ.root / "x").exists()


def test_calibration_and_verdict_against_oracles() -> None:
    rng = np.random.default_rng(0)
    # a perfectly calibrated model: confidence c, correct with probability c → ECE → 0 as N grows
    n = 200_000
    conf = rng.uniform(0.5, 1.0, n)
    y = np.zeros(n, int)
    correct = rng.random(n) < conf
    probs = np.zeros((n, 2))
    probs[:, 0] = np.where(correct, conf, 1 - conf)
    probs[:, 1] = 1 - probs[:, 0]
    # the expected ECE of a calibrated model is the mean |binomial noise| per bin: about
    # Σ_b (n_b/N)·sqrt(2/π)·sqrt(p(1−p)/n_b); tiny here
    assert calibration_error(probs, y) < 0.01
    # always 0.9 confident, right half of the time → ECE 0.4
    p2 = np.tile([0.9, 0.1], (1000, 1))
    y2 = np.r_[np.zeros(500, int), np.ones(500, int)]
    assert calibration_error(p2, y2) == pytest.approx(0.4)
    pred = np.asarray([0, 0, 1, 2, 2])
    assert per_class_accuracy(pred, np.asarray([0, 1, 1, 2, 0]), 4) == [0.5, 0.5, 1.0, None]
    s = lambda a: Scores(100, a, [], 0.0)  # noqa: E731
    assert compare({"original": s(0.9)}, {"original": s(0.895)}, 0.01)["publishable"] is True
    v = compare({"original": s(0.9)}, {"original": s(0.88)}, 0.01)
    assert v["publishable"] is False and "by 0.0200" in v["reason"]
    # the binomial oracle: a 1-point margin on 359 validation samples is below one standard error
    se = scipy.stats.binom(359, 0.98).std() / 359
    assert 0.005 < se < 0.01
