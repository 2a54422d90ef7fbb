"""The pipeline spec (`SPEC.toml`): what to train, on what data, and how to ship it.

Every key, its type and default is listed in docs/compiler.md. Relative paths are resolved against
the folder of the spec file. Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyfleet.boards import get_board
from tinyfleet.device_manifest import parse_semver
from tinyfleet.errors import PackageError, UsageError

__all__ = [
    "BUILTIN_ARCHITECTURES",
    "BUILTIN_DATASETS",
    "DataSpec",
    "PackageSpec",
    "QuantizeSpec",
    "Spec",
    "TrackingSpec",
    "TrainSpec",
    "load_spec",
    "parse_spec",
]

BUILTIN_DATASETS = ("digits",)
BUILTIN_ARCHITECTURES = ("dense", "cnn", "ds_cnn")


@dataclass(frozen=True)
class DataSpec:
    source: str = "digits"  # a built-in name, or a resolved path to .npz / .csv
    label_column: str = "label"
    input_shape: tuple[int, ...] | None = None
    scale: float | None = None  # divide raw values by this; None: built-in default (digits: 16)
    validation_split: float = 0.2
    labels: tuple[str, ...] | None = None

    @property
    def is_builtin(self) -> bool:
        return self.source in BUILTIN_DATASETS


@dataclass(frozen=True)
class TrainSpec:
    architecture: str = "cnn"  # a template name or a resolved path to a .keras file
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 0.01
    seed: int = 1234


@dataclass(frozen=True)
class QuantizeSpec:
    representative_samples: int = 200


@dataclass(frozen=True)
class PackageSpec:
    boards: tuple[str, ...] = ("qemu-an386", "nano33ble", "esp32dev", "rpi4")
    golden_count: int = 8
    drift_groups: int = 1


@dataclass(frozen=True)
class TrackingSpec:
    """``[tracking]``: log runs to MLflow (docs/mlops.md). Absent: nothing is logged."""

    mlflow: str = ""  # tracking URI; "" = the local store ./mlruns
    experiment: str = ""  # "" = the model name
    register: bool = True  # a model registry version per package


@dataclass(frozen=True)
class Spec:
    name: str
    version: str = "1.0.0"
    security_counter: int = 1
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    quantize: QuantizeSpec = field(default_factory=QuantizeSpec)
    package: PackageSpec = field(default_factory=PackageSpec)
    tracking: TrackingSpec | None = None  # None: no [tracking] section
    text: str = ""  # the spec file as written (recorded in the run folder)


_TOP = {"name", "version", "security_counter", "data", "train", "quantize", "package", "tracking"}
_SECTIONS: dict[str, set[str]] = {
    "data": {"source", "label_column", "input_shape", "scale", "validation_split", "labels"},
    "train": {"architecture", "epochs", "batch_size", "learning_rate", "seed"},
    "quantize": {"representative_samples"},
    "package": {"boards", "golden_count", "drift_groups"},
    "tracking": {"mlflow", "experiment", "register"},
}


def load_spec(path: str | Path) -> Spec:
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except FileNotFoundError:
        raise UsageError(f"spec file {p} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"spec {p} is a directory, not a TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read spec {p}: {exc}") from None
    return parse_spec(text, base_dir=p.resolve().parent, origin=str(p))


def parse_spec(text: str, base_dir: Path, origin: str = "spec") -> Spec:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{origin} is not valid TOML: {exc}") from None
    _no_unknown(raw, _TOP, origin)
    for section, keys in _SECTIONS.items():
        if section in raw:
            if not isinstance(raw[section], dict):
                raise UsageError(f"{origin}: [{section}] must be a table")
            _no_unknown(raw[section], keys, f"{origin} [{section}]")
    name = _get(raw, "name", str, origin, None)
    if name is None:
        raise UsageError(f"{origin}: missing required key 'name'")
    version = _get(raw, "version", str, origin, "1.0.0")
    try:
        parse_semver(version)
    except PackageError as exc:
        raise UsageError(f"{origin}: {exc}") from None
    counter = _get(raw, "security_counter", int, origin, 1)
    if not 1 <= counter <= 0xFFFFFFFF:
        raise UsageError(f"{origin}: security_counter must be 1..4294967295")
    return Spec(
        name=_check_name(name, origin),
        version=version,
        security_counter=counter,
        data=_data(raw.get("data", {}), base_dir, origin),
        train=_train(raw.get("train", {}), base_dir, origin),
        quantize=_quantize(raw.get("quantize", {}), origin),
        package=_package(raw.get("package", {}), origin),
        tracking=_tracking(raw["tracking"], base_dir, origin) if "tracking" in raw else None,
        text=text,
    )


def _check_name(name: str, origin: str) -> str:
    ok = 0 < len(name) <= 31 and name[0].isalnum() and all(c.isalnum() or c in "._-" for c in name)
    if not ok or not name.isascii():
        raise UsageError(
            f"{origin}: name {name!r} must be 1..31 characters of letters, digits, '.', '_' or '-'"
        )
    return name


def _no_unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UsageError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )


def _get(table: dict[str, Any], key: str, typ: type, where: str, default: Any) -> Any:
    if key not in table:
        return default
    value = table[key]
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise UsageError(f"{where}: {key} must be {typ.__name__}, got {type(value).__name__}")
    return value


def _resolve(value: str, base_dir: Path) -> str:
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base_dir / p).resolve())


def _data(t: dict[str, Any], base_dir: Path, origin: str) -> DataSpec:
    where = f"{origin} [data]"
    source = _get(t, "source", str, where, "digits")
    if source not in BUILTIN_DATASETS:
        if not source.endswith((".npz", ".csv")):
            raise UsageError(
                f"{where}: source must be one of {', '.join(BUILTIN_DATASETS)} or a .npz/.csv file"
            )
        source = _resolve(source, base_dir)
    shape = t.get("input_shape")
    if shape is not None:
        if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            raise UsageError(f"{where}: input_shape must be a list of positive integers")
        shape = tuple(shape)
    scale = _get(t, "scale", float, where, None)
    if scale is not None and not scale > 0:
        raise UsageError(f"{where}: scale must be positive")
    split = _get(t, "validation_split", float, where, 0.2)
    if not 0.05 <= split <= 0.5:
        raise UsageError(f"{where}: validation_split must be between 0.05 and 0.5")
    labels = t.get("labels")
    if labels is not None:
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise UsageError(f"{where}: labels must be a list of strings")
        labels = tuple(labels)
    return DataSpec(
        source=source,
        label_column=_get(t, "label_column", str, where, "label"),
        input_shape=shape,
        scale=scale,
        validation_split=split,
        labels=labels,
    )


def _train(t: dict[str, Any], base_dir: Path, origin: str) -> TrainSpec:
    where = f"{origin} [train]"
    arch = _get(t, "architecture", str, where, "cnn")
    if arch not in BUILTIN_ARCHITECTURES:
        if not arch.endswith(".keras"):
            raise UsageError(
                f"{where}: architecture must be one of {', '.join(BUILTIN_ARCHITECTURES)} or a .keras file"
            )
        arch = _resolve(arch, base_dir)
    spec = TrainSpec(
        architecture=arch,
        epochs=_get(t, "epochs", int, where, 30),
        batch_size=_get(t, "batch_size", int, where, 32),
        learning_rate=_get(t, "learning_rate", float, where, 0.01),
        seed=_get(t, "seed", int, where, 1234),
    )
    if not 0 <= spec.epochs <= 10000 or not 1 <= spec.batch_size <= 65536:
        raise UsageError(f"{where}: epochs must be 0..10000 and batch_size 1..65536")
    if not spec.learning_rate > 0 or not 0 <= spec.seed < 2**31:
        raise UsageError(f"{where}: learning_rate must be positive and seed 0..2^31-1")
    return spec


def _quantize(t: dict[str, Any], origin: str) -> QuantizeSpec:
    n = _get(t, "representative_samples", int, f"{origin} [quantize]", 200)
    if not 1 <= n <= 100000:
        raise UsageError(f"{origin} [quantize]: representative_samples must be 1..100000")
    return QuantizeSpec(representative_samples=n)


def _package(t: dict[str, Any], origin: str) -> PackageSpec:
    where = f"{origin} [package]"
    boards = t.get("boards", list(PackageSpec.boards))
    if not isinstance(boards, list) or not boards or not all(isinstance(b, str) for b in boards):
        raise UsageError(f"{where}: boards must be a non-empty list of board names")
    for b in boards:
        try:
            get_board(b)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
    golden = _get(t, "golden_count", int, where, 8)
    groups = _get(t, "drift_groups", int, where, 1)
    if not 1 <= golden <= 1000 or not 1 <= groups <= 4096:
        raise UsageError(f"{where}: golden_count must be 1..1000 and drift_groups 1..4096")
    return PackageSpec(boards=tuple(boards), golden_count=golden, drift_groups=groups)


def _tracking(t: dict[str, Any], base_dir: Path, origin: str) -> TrackingSpec | None:
    where = f"{origin} [tracking]"
    mlflow = t.get("mlflow", True)
    if mlflow is False:
        return None
    if mlflow is True:
        mlflow = ""
    if not isinstance(mlflow, str):
        raise UsageError(f"{where}: mlflow must be true, false or a tracking URI")
    if mlflow and ":" not in mlflow:  # a plain folder: relative to the spec, like every path
        mlflow = _resolve(mlflow, base_dir)
    experiment = _get(t, "experiment", str, where, "")
    return TrackingSpec(mlflow=mlflow, experiment=experiment, register=_get(t, "register", bool, where, True))
