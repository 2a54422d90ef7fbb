"""`tinyfleet model build`: the whole pipeline into one folder, with progress and a report.

The folder appears only when every stage succeeded (tinyfleet.fsutil.atomic_dir); a failure leaves
nothing behind that looks like a finished build.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.boards import get_board
from tinyfleet.compiler.datasets import load_dataset
from tinyfleet.compiler.packaging import assemble, package_bytes
from tinyfleet.compiler.pipeline import (
    ONNX_ARTIFACTS,
    convert_stage,
    quantize_stage,
    validation_data,
    verify_stage,
)
from tinyfleet.compiler.report import (
    confusion,
    reliability,
    write_confusion_plot,
    write_reliability_plot,
    write_report,
)
from tinyfleet.compiler.spec import Spec
from tinyfleet.compiler.train import Run, train, write_run
from tinyfleet.fsutil import atomic_dir, atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from tinyfleet.compiler.tracking import Tracker


def manifest_key_id(pkg: bytes) -> str:
    import io
    import json
    import zipfile

    with zipfile.ZipFile(io.BytesIO(pkg)) as zf:
        return str(json.loads(zf.read("manifest.json"))["key_id"])


__all__ = ["BuildResult", "build", "metrics_of", "training_of"]

STAGES = ("data", "train", "quantize", "convert", "verify", "package", "report")


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    package_path: Path
    report: dict[str, Any]
    table: str


def training_of(record: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "architecture",
        "seeds",
        "epochs",
        "batch_size",
        "learning_rate",
        "dataset",
        "parameters",
        "libraries",
    )
    return {k: record[k] for k in keys if k in record}


def metrics_of(record: dict[str, Any] | None, ev_report: dict[str, Any]) -> dict[str, Any]:
    m: dict[str, Any] = {}
    if record and "accuracy_float" in record:
        m["accuracy_float"] = record["accuracy_float"]
    if ev_report.get("accuracy"):
        m["accuracy_int8"] = ev_report["accuracy"]["tflm"]
        m["accuracy"] = ev_report["accuracy"]
    m["agreement"] = {
        k: {"bitexact": v["bitexact"], "max_abs_diff": v["max_abs_diff"]}
        for k, v in ev_report["agreement"].items()
    }
    m["eval_samples"] = ev_report["samples"]
    return m


Progress = Callable[[str], None]


@contextmanager
def _timed(stages: dict[str, float], name: str, progress: Progress | None) -> Iterator[None]:
    if progress:
        progress(name)
    t0 = time.perf_counter()
    yield
    stages[name] = round(time.perf_counter() - t0, 3)


def build(
    spec: Spec,
    out: Path,
    key: Ed25519PrivateKey,
    progress: Progress | None = None,
    on_epoch: Callable[[int, int, float], None] | None = None,
    tracker: Tracker | None = None,
    extra_train: tuple[np.ndarray, np.ndarray] | None = None,
    lineage: list[dict[str, Any]] | None = None,
) -> BuildResult:
    """Run every stage into ``out``; ``progress(stage)`` before each stage, ``on_epoch`` while training.

    With a ``tracker`` the build is one MLflow run (docs/mlops.md): the manifest records its id, and
    the run gets the parameters, metrics, report, plot and the package (plus a registry version).
    ``extra_train`` is added to the training data only (retraining); ``lineage`` says what it is.
    """
    if tracker is None:
        return _build(spec, out, key, progress, on_epoch, None, extra_train, lineage)
    from tinyfleet.compiler.tracking import spec_params

    tracker.start(
        f"{spec.name}-{spec.version}", {"tinyfleet.model": spec.name, "tinyfleet.version": spec.version}
    )
    ok = False
    try:
        tracker.log_params(spec_params(spec))
        result = _build(spec, out, key, progress, on_epoch, tracker, extra_train, lineage)
        ok = True
        return result
    finally:
        tracker.end(ok)


def _build(
    spec: Spec,
    out: Path,
    key: Ed25519PrivateKey,
    progress: Progress | None,
    on_epoch: Callable[[int, int, float], None] | None,
    tracker: Tracker | None,
    extra_train: tuple[np.ndarray, np.ndarray] | None,
    lineage: list[dict[str, Any]] | None,
) -> BuildResult:
    boards = [get_board(b) for b in spec.package.boards]
    stages: dict[str, float] = {}
    t_all = time.perf_counter()
    with atomic_dir(out) as tmp:
        with _timed(stages, "data", progress):
            ds = load_dataset(spec.data)
        with _timed(stages, "train", progress):
            run = train(spec, ds, on_epoch=on_epoch, extra_train=extra_train, lineage=lineage)
            write_run(run, tmp)
        seed = spec.train.seed
        n_rep = spec.quantize.representative_samples
        with _timed(stages, "quantize", progress):
            blob, qrec = quantize_stage(run, tmp, n_rep, seed)
        with _timed(stages, "convert", progress):
            files = convert_stage(run, blob, tmp, spec.name, n_rep, seed)
        with _timed(stages, "verify", progress):
            ev = verify_stage(
                blob, validation_data(run, blob), {k: files[k] for k in ONNX_ARTIFACTS}, "model.tflite"
            )
        with _timed(stages, "package", progress):
            manifest, artifacts, checks = assemble(
                name=spec.name,
                version=spec.version,
                security_counter=spec.security_counter,
                boards=boards,
                blob=blob,
                ev=ev,
                extra_artifacts=files,
                labels=run.labels,
                metrics=metrics_of(run.record, ev.report),
                training=training_of(run.record),
                golden_count_wanted=spec.package.golden_count,
                drift_groups=spec.package.drift_groups,
            )
            if tracker is not None and tracker.run is not None:
                manifest["tracking"] = {
                    "mlflow_run_id": tracker.run.run_id,
                    "mlflow_experiment_id": tracker.run.experiment_id,
                }
            if lineage:
                manifest["lineage"] = list(lineage)
            pkg = package_bytes(manifest, artifacts, key)
            pkg_name = f"{spec.name}-{spec.version}.tfpkg"
            atomic_write_bytes(tmp / pkg_name, pkg)
        with _timed(stages, "report", progress):
            report = _report(
                spec, run, ev.report, checks, qrec, manifest, pkg, pkg_name, stages, ev.outputs["tflm"]
            )
            float_pred = np.argmax(run.model.predict(run.split.x_val, batch_size=256, verbose=0), axis=1)
            n = len(run.labels)
            write_confusion_plot(
                tmp / "confusion.png",
                confusion(run.split.y_val, float_pred, n),
                confusion(run.split.y_val, np.argmax(ev.outputs["tflm"], 1), n),
                list(run.labels),
                f"{spec.name} {spec.version}: float vs int8 on {len(run.split.y_val)} validation samples",
            )
            cal = manifest["drift_baseline"].get("calibration")
            if cal is not None:  # the reliability diagram behind the server's label-free accuracy
                report["reliability"] = reliability(cal)
                write_reliability_plot(
                    tmp / "reliability.png", report["reliability"], f"{spec.name} {spec.version}: int8 (TFLM)"
                )
        stages["total"] = round(time.perf_counter() - t_all, 3)
        import json

        if lineage:
            report["lineage"] = list(lineage)
        if tracker is not None:
            report["tracking"] = _log_run(tracker, spec, run, report, tmp / pkg_name)
        table = write_report(tmp, report)
        atomic_write_text(tmp / "verify.json", json.dumps({**ev.report, "boards": checks}, indent=2) + "\n")
        if tracker is not None:
            for fname in (
                "report.json",
                "report.txt",
                "confusion.png",
                "verify.json",
                "train.json",
                "spec.toml",
            ):
                if (tmp / fname).is_file():
                    tracker.log_file(tmp / fname, "report")
            atomic_write_text(tmp / "mlflow.json", json.dumps(report["tracking"], indent=2) + "\n")
    return BuildResult(out_dir=out, package_path=out / pkg_name, report=report, table=table)


def _log_run(
    tracker: Tracker, spec: Spec, run: Run, report: dict[str, Any], pkg_path: Path
) -> dict[str, Any]:
    """Parameters, metrics and the package into the tracker's run, and a registry version."""
    from tinyfleet.compiler.tracking import record_params, report_metrics

    assert tracker.run is not None
    tracker.log_params(record_params(run.record))
    tracker.log_metrics(report_metrics(report))
    sha = report["package"]["sha256"]
    tracker.set_tags({"tinyfleet.package_sha256": sha, "tinyfleet.key_id": report["package"]["key_id"]})
    tracker.log_file(pkg_path, "package")
    out: dict[str, Any] = {**tracker.run.as_dict(), "experiment": tracker.experiment}
    if tracker.register:
        out["registered_model"] = spec.name
        out["registry_version"] = tracker.register_package(spec.name, spec.version, sha)
        tracker.set_tags({"tinyfleet.registry_version": out["registry_version"]})
    return out


def _report(
    spec: Spec,
    run: Run,
    ev: dict[str, Any],
    checks: list[dict[str, Any]],
    qrec: dict[str, Any],
    manifest: dict[str, Any],
    pkg: bytes,
    pkg_name: str,
    stages: dict[str, float],
    tflm_out: np.ndarray,
) -> dict[str, Any]:
    import hashlib

    return {
        "model": {
            "name": spec.name,
            "version": spec.version,
            "security_counter": spec.security_counter,
            "labels": list(run.labels),
            "parameters": run.record.get("parameters"),
        },
        "stages": stages,
        "accuracy": {
            "float": run.record["accuracy_float"],
            "int8": ev["accuracy"]["tflm"],
            "runtimes": ev["accuracy"],
        },
        "verify": ev,
        "boards": checks,
        "quantize": qrec,
        "golden": manifest["golden"],
        "drift_baseline": manifest["drift_baseline"],
        "training": training_of(run.record),
        "package": {
            "file": pkg_name,
            "sha256": hashlib.sha256(pkg).hexdigest(),
            "bytes": len(pkg),
            "key_id": manifest_key_id(pkg),
        },
    }
