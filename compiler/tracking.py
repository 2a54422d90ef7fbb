"""Experiment tracking with MLflow (the optional ``mlflow`` extra; docs/mlops.md).

Pure part: where a URI points (:func:`resolve_store`) and what a build logs (:func:`spec_params`,
:func:`record_params`, :func:`report_metrics`). Adapter: :class:`Tracker`, a thin wrapper over
``mlflow.MlflowClient`` for one run. Nothing here is imported unless tracking was asked for, so a
build without ``--mlflow`` or ``[tracking]`` neither needs nor touches MLflow.

Stores: ``""`` (the default) and a plain folder are a local store in that folder (``./mlruns`` by
default): ``mlflow.db`` (SQLite) plus ``artifacts/``; MLflow 3 keeps its ``file:`` backend in
maintenance mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE`` is set, so a ``file:`` URI sets
that for this process. Any other URI (``http(s)://``, ``sqlite:``, ``postgresql:``) is used as is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyfleet.compiler.spec import Spec, TrackingSpec
from tinyfleet.errors import UsageError

__all__ = [
    "DEFAULT_FOLDER",
    "RunRef",
    "Store",
    "Tracker",
    "record_params",
    "report_metrics",
    "resolve_store",
    "spec_params",
    "tracking_for",
]

DEFAULT_FOLDER = "mlruns"
MAX_PARAM = 500  # characters of a logged parameter value (MLflow's limit is 6000)


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    artifact_root: str | None  # where new experiments keep artifacts (local stores only)
    folder: Path | None  # the local folder, made on first use


@dataclass(frozen=True)
class RunRef:
    """What a package and a report record about the run that made them."""

    run_id: str
    experiment_id: str
    tracking_uri: str

    def as_dict(self) -> dict[str, str]:
        return {"run_id": self.run_id, "experiment_id": self.experiment_id, "tracking_uri": self.tracking_uri}


def resolve_store(uri: str, cwd: Path) -> Store:
    """The store a ``--mlflow`` value or ``[tracking] mlflow`` names (see the module docstring)."""
    if uri.startswith("file:"):
        return Store(uri, None, None)
    if ":" in uri and not (len(uri) > 1 and uri[1] == ":"):  # a scheme (not a drive letter)
        return Store(uri, None, None)
    folder = (cwd / (uri or DEFAULT_FOLDER)).resolve()
    return Store(f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri(), folder)


def tracking_for(spec: Spec, cli_uri: str | None) -> TrackingSpec | None:
    """``--mlflow [URI]`` (``cli_uri`` not None) wins over the spec's ``[tracking]``; None: no tracking."""
    if cli_uri is not None:
        base = spec.tracking or TrackingSpec()
        return TrackingSpec(mlflow=cli_uri or base.mlflow, experiment=base.experiment, register=base.register)
    return spec.tracking


def _clip(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM else text[: MAX_PARAM - 1] + "…"


def spec_params(spec: Spec) -> dict[str, str]:
    """The spec's settings as flat MLflow parameters (``train.epochs`` = ``30``)."""
    out = {"name": spec.name, "version": spec.version, "security_counter": str(spec.security_counter)}
    for section in ("data", "train", "quantize", "package"):
        for key, value in vars(getattr(spec, section)).items():
            if value is None:
                continue
            if isinstance(value, tuple):
                value = ",".join(str(v) for v in value)
            if key in ("source", "architecture") and ("/" in str(value) or "\\" in str(value)):
                value = Path(str(value)).name  # the file, not this machine's path
            out[f"{section}.{key}"] = _clip(value)
    return out


def record_params(record: Mapping[str, Any]) -> dict[str, str]:
    """Seeds, dataset identity and library versions from a run's ``train.json``."""
    out: dict[str, str] = {}
    for k, v in (record.get("seeds") or {}).items():
        out[f"seed.{k}"] = str(v)
    ds = record.get("dataset") or {}
    for k in ("source", "sha256", "n", "n_train", "n_val", "scale"):
        if k in ds:
            out[f"dataset.{k}"] = _clip(ds[k])
    for k, v in (ds.get("dvc") or {}).items():
        if v is not None:
            out[f"dataset.dvc.{k}"] = _clip(v)
    for i, lin in enumerate(ds.get("added") or []):
        out[f"dataset.added.{i}"] = _clip(lin.get("dataset", ""))
    for k, v in (record.get("libraries") or {}).items():
        out[f"lib.{k}"] = str(v)
    if "parameters" in record:
        out["model.parameters"] = str(record["parameters"])
    return out


def _metric_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in text)


def report_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """Accuracies, agreement with TFLM, arena and flash per board, stage times of a build report."""
    out: dict[str, float] = {}
    acc = report.get("accuracy") or {}
    if "float" in acc:
        out["accuracy_float"] = float(acc["float"])
    if acc.get("int8") is not None:
        out["accuracy_int8"] = float(acc["int8"])
    for rt, a in (acc.get("runtimes") or {}).items():
        out[_metric_name(f"accuracy.{rt}")] = float(a)
    verify = report.get("verify") or {}
    for rt, a in (verify.get("agreement") or {}).items():
        out[_metric_name(f"agreement.{rt}.max_abs_diff")] = float(a["max_abs_diff"])
        out[_metric_name(f"agreement.{rt}.bitexact")] = 1.0 if a["bitexact"] else 0.0
        out[_metric_name(f"agreement.{rt}.argmax_agree")] = float(a["argmax_agree"])
    if "tflm_arena_bytes" in verify:
        out["tflm_arena_bytes"] = float(verify["tflm_arena_bytes"])
        out["model_bytes"] = float(verify["model_bytes"])
    for c in report.get("boards") or []:
        b = _metric_name(c["board"])
        out[f"board.{b}.flash_bytes"] = float(c["flash_bytes"])
        out[f"board.{b}.arena_budget"] = float(c["arena_budget"])
        if "tflm_arena_bytes" in verify:
            out[f"board.{b}.arena_bytes"] = float(verify["tflm_arena_bytes"])
        out[f"board.{b}.fits"] = 1.0 if c["fits"] else 0.0
    for stage, secs in (report.get("stages") or {}).items():
        out[f"seconds.{stage}"] = float(secs)
    pkg = report.get("package") or {}
    if "bytes" in pkg:
        out["package_bytes"] = float(pkg["bytes"])
    return out


class Tracker:
    """One MLflow run, through ``MlflowClient`` (no global state: several runs may live in one process)."""

    def __init__(self, tracking: TrackingSpec, model_name: str, cwd: Path | None = None) -> None:
        self.store = resolve_store(tracking.mlflow, cwd or Path.cwd())
        self.experiment = tracking.experiment or model_name
        self.register = tracking.register
        # a tracking server that is down is one error after a few seconds, not minutes of retries
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        if self.store.tracking_uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
            from mlflow import MlflowClient
        except ImportError:
            raise UsageError(
                "MLflow tracking was asked for but MLflow is not installed (pip install 'tinyfleet[mlflow]')"
            ) from None
        if self.store.folder is not None:
            self.store.folder.mkdir(parents=True, exist_ok=True)
        self._client = MlflowClient(
            tracking_uri=self.store.tracking_uri, registry_uri=self.store.tracking_uri
        )
        self.run: RunRef | None = None

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - MLflow raises its own and requests' exceptions
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"MLflow ({self.store.tracking_uri}): cannot {what}: {first}") from None

    def start(self, run_name: str, tags: Mapping[str, str] | None = None) -> RunRef:
        exp = self._call("read experiments", self._client.get_experiment_by_name, self.experiment)
        if exp is not None:
            exp_id = exp.experiment_id
        else:
            root = self.store.artifact_root
            location = f"{root}/{self.experiment}" if root else None
            exp_id = self._call(
                "create an experiment", self._client.create_experiment, self.experiment, location
            )
        run = self._call(
            "start a run",
            self._client.create_run,
            exp_id,
            tags={"mlflow.runName": run_name, "mlflow.source.name": "tinyfleet", **(tags or {})},
        )
        self.run = RunRef(run.info.run_id, str(exp_id), self.store.tracking_uri)
        return self.run

    @property
    def run_id(self) -> str:
        if self.run is None:
            raise RuntimeError("Tracker.start() first")
        return self.run.run_id

    def log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self._call("log parameters", self._client.log_batch, self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for i in range(0, len(items), 500):
            self._call("log metrics", self._client.log_batch, self.run_id, metrics=items[i : i + 500])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for k, v in tags.items():
            self._call("set a tag", self._client.set_tag, self.run_id, k, v)

    def log_file(self, path: Path, folder: str | None = None) -> None:
        self._call("log an artifact", self._client.log_artifact, self.run_id, str(path), folder)

    def register_package(self, name: str, version: str, package_sha256: str) -> str:
        """A model registry version whose source is the package logged under ``package/``."""
        from mlflow.exceptions import MlflowException

        try:
            self._client.create_registered_model(name)
        except MlflowException as exc:
            if "already exists" not in str(exc).lower() and "RESOURCE_ALREADY_EXISTS" not in str(
                getattr(exc, "error_code", "")
            ):
                raise UsageError(f"MLflow: cannot create registered model {name}: {exc}") from None
        run = self._call("read the run", self._client.get_run, self.run_id)
        mv = self._call(
            "register the package",
            self._client.create_model_version,
            name,
            f"{run.info.artifact_uri}/package",
            run_id=self.run_id,
            tags={"tinyfleet.version": version, "tinyfleet.package_sha256": package_sha256},
            description=f"tinyfleet package {name} {version}",
        )
        return str(mv.version)

    def end(self, ok: bool) -> None:
        if self.run is not None:
            self._call(
                "end the run", self._client.set_terminated, self.run_id, "FINISHED" if ok else "FAILED"
            )
