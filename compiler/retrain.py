"""`tinyfleet model retrain`: the spec's data plus captured, labelled dataset versions → a challenger,
compared with the champion (compiler/challenge.py) before it may be published.

Each added dataset (``tinyfleet/capture.py``'s file) must be fully labelled. Its samples are split
(seeded with the spec's seed) into a part added to the training data and a held-out part that only
scores the champion and the challenger. The spec's own validation split is unchanged, so "the original
validation data" is the same set for both models. The build happens under a temporary name and
appears at ``--out`` only when the challenger is publishable; a refused challenger leaves nothing
but the error (and, when tracked, an MLflow run tagged ``tinyfleet.challenge = refused``).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.capture import LABEL_UNKNOWN, CaptureFormatError, read_dataset
from tinyfleet.compiler.build import BuildResult, build
from tinyfleet.compiler.challenge import DEFAULT_MARGIN, compare, drift_of, score_model, table
from tinyfleet.compiler.quantize import quantize_inputs
from tinyfleet.compiler.spec import Spec
from tinyfleet.compiler.train import load_run
from tinyfleet.errors import DataError, TinyfleetError
from tinyfleet.fsutil import atomic_write_text
from tinyfleet.package import ModelPackage

if TYPE_CHECKING:
    from tinyfleet.compiler.tracking import Tracker

__all__ = ["DEFAULT_HOLDOUT", "Added", "ChallengeRefused", "load_added", "retrain"]

DEFAULT_HOLDOUT = 0.3  # share of each captured dataset held out to score champion and challenger


class ChallengeRefused(TinyfleetError):
    """The challenger is worse than the champion on the original validation data beyond the margin."""

    exit_code = 4

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Added:
    version: str
    model: str
    x: np.ndarray  # float, in the model's input space (what training sees)
    y: np.ndarray


def load_added(blob: bytes, version: str, input_shape: Sequence[int], n_classes: int) -> Added:
    """A captured dataset version, checked for retraining (every sample labelled, shapes fit)."""
    short = version[:12]
    try:
        a = read_dataset(blob, f"dataset {short}")
    except CaptureFormatError as exc:
        raise DataError(str(exc)) from None
    y = a["y"]
    unlabelled = int(np.sum(y == LABEL_UNKNOWN))
    if unlabelled:
        raise DataError(
            f"dataset {short} has {unlabelled} unlabelled sample(s) of {len(y)}: label them "
            "(tinyfleet data export, fill in the label column, tinyfleet data import --parent) before retraining"
        )
    if int(y.max()) >= n_classes:
        raise DataError(f"dataset {short} has label {int(y.max())}, the spec has {n_classes} classes")
    x = a["x"]
    if math.prod(x.shape[1:]) != math.prod(input_shape):
        raise DataError(
            f"dataset {short} holds inputs of {math.prod(x.shape[1:])} values, the spec's model takes {math.prod(input_shape)}"
        )
    scale = float(a.get("input_scale", np.float64(1.0)))
    zp = int(a.get("input_zero_point", np.int64(0)))
    xf = ((x.astype(np.float64) - zp) * scale).astype(np.float32).reshape(len(x), *input_shape)
    return Added(version=version, model=str(a.get("model", "")), x=xf, y=y.astype(np.int64))


def _holdout(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    k = int(round(n * share)) if n > 1 else 0
    return np.sort(order[k:]), np.sort(order[:k])  # train, held out


def retrain(
    spec: Spec,
    added: Sequence[Added],
    out: Path,
    key: Ed25519PrivateKey,
    champion: ModelPackage,
    margin: float = DEFAULT_MARGIN,
    holdout: float = DEFAULT_HOLDOUT,
    tracker: Tracker | None = None,
    progress: Callable[[str], None] | None = None,
    on_epoch: Callable[[int, int, float], None] | None = None,
) -> tuple[BuildResult, dict[str, Any]]:
    if not added:
        raise DataError("give at least one dataset version to add (--add-data)")
    if champion.name != spec.name:
        raise DataError(f"the champion is model {champion.name}, the spec builds {spec.name}")
    if not 0.0 <= holdout < 1.0:
        raise DataError("holdout must be in [0, 1)")
    seed = spec.train.seed
    xs_tr, ys_tr, xs_ho, ys_ho, lineage = [], [], [], [], []
    for a in added:
        tr, ho = _holdout(len(a.y), holdout, seed)
        xs_tr.append(a.x[tr])
        ys_tr.append(a.y[tr])
        xs_ho.append(a.x[ho])
        ys_ho.append(a.y[ho])
        lineage.append(
            {
                "dataset": a.version,
                "model": a.model,
                "samples": len(a.y),
                "train": len(tr),
                "holdout": len(ho),
            }
        )
    extra = (np.concatenate(xs_tr), np.concatenate(ys_tr))
    x_ho, y_ho = np.concatenate(xs_ho), np.concatenate(ys_ho)
    staging = out.parent / f".{out.name}.challenger"
    shutil.rmtree(staging, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = build(
            spec, staging, key, progress, on_epoch, tracker=tracker, extra_train=extra, lineage=lineage
        )
        report = _challenge(spec, staging, champion, x_ho, y_ho, lineage, margin)
        atomic_write_text(staging / "challenge.json", json.dumps(report, indent=2) + "\n")
        atomic_write_text(staging / "challenge.txt", report["table"])
        if tracker is not None:
            _log_challenge(tracker, report, staging)
        if not report["verdict"]["publishable"]:
            if tracker is not None:
                tracker.end(False)
            raise ChallengeRefused(f"challenger not publishable: {report['verdict']['reason']}", report)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    pkg = out / result.package_path.name
    return replace(result, out_dir=out, package_path=pkg), report


def _challenge(
    spec: Spec,
    folder: Path,
    champion: ModelPackage,
    x_ho: np.ndarray,
    y_ho: np.ndarray,
    lineage: list[dict[str, Any]],
    margin: float,
) -> dict[str, Any]:
    run = load_run(folder, with_model=False)
    n_classes = len(run.labels)
    blobs = {
        "champion": champion.artifact("model.tflite"),
        "challenger": (folder / "model.tflite").read_bytes(),
    }
    scores: dict[str, dict[str, Any]] = {}
    for who, blob in blobs.items():
        scores[who] = {"original": score_model(blob, run.split.x_val, run.split.y_val, n_classes)}
        if len(y_ho):
            scores[who]["captured"] = score_model(blob, x_ho, y_ho, n_classes)
    verdict = compare(scores["champion"], scores["challenger"], margin)
    report: dict[str, Any] = {
        "champion": {
            "model": f"{champion.name}@{champion.version}",
            "sha256": champion.sha256,
            "scores": {k: v.as_dict() for k, v in scores["champion"].items()},
        },
        "challenger": {
            "model": f"{spec.name}@{spec.version}",
            "scores": {k: v.as_dict() for k, v in scores["challenger"].items()},
        },
        "lineage": lineage,
        "verdict": verdict,
    }
    all_added = np.concatenate([x_ho]) if len(y_ho) else None
    if all_added is not None and champion.manifest.get("drift_baseline"):
        inp = champion.manifest["input"]
        q = quantize_inputs(all_added, float(inp["scale"]), int(inp["zero_point"]))
        report["drift"] = drift_of(q, champion.manifest["drift_baseline"])
    report["table"] = table(report, list(run.labels))
    return report


def _log_challenge(tracker: Tracker, report: dict[str, Any], folder: Path) -> None:
    metrics: dict[str, float] = {"challenge.original_delta": float(report["verdict"]["original_delta"])}
    for who in ("champion", "challenger"):
        for split, sc in report[who]["scores"].items():
            metrics[f"{who}.{split}.accuracy"] = float(sc["accuracy"])
            metrics[f"{who}.{split}.ece"] = float(sc["ece"])
    for k, v in (report.get("drift") or {}).items():
        metrics[f"captured_drift.{k}"] = float(v)
    tracker.log_metrics(metrics)
    tracker.set_tags(
        {
            "tinyfleet.challenge": "publishable" if report["verdict"]["publishable"] else "refused",
            "tinyfleet.champion": report["champion"]["model"],
        }
    )
    tracker.log_file(folder / "challenge.json", "report")
