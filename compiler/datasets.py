"""Datasets: the built-in digits set, user `.npz` (`x`, `y`) and `.csv` files, and the split.

A :class:`Dataset` holds float32 inputs already shaped and scaled for the model, integer labels,
class names, and a sha256 that identifies the raw data (recorded for reproducibility).
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyfleet.compiler.spec import DataSpec
from tinyfleet.errors import DataError

__all__ = ["Dataset", "Split", "load_dataset", "split_dataset"]

MAX_CLASSES = 1000


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray  # float32 (N, *input_shape)
    y: np.ndarray  # int64 (N,)
    labels: tuple[str, ...]
    sha256: str
    source: str
    scale: float
    dvc: dict[str, Any] | None = None  # the DVC record of a file source inside a DVC repo (compiler/dvc.py)


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def load_dataset(spec: DataSpec) -> Dataset:
    dvc: dict[str, Any] | None = None
    if spec.source == "digits":
        x, y, digest = _digits()
        default_scale = 16.0
        default_shape: tuple[int, ...] = (8, 8, 1)
        names: tuple[str, ...] | None = tuple(str(i) for i in range(10))
    else:
        path = Path(spec.source)
        x, y, digest = _npz(path) if path.suffix == ".npz" else _csv(path, spec.label_column)
        dvc = _dvc(path, digest)
        default_scale = 1.0
        default_shape = tuple(x.shape[1:])
        names = None
    shape = spec.input_shape or default_shape
    n = x.shape[0]
    if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
        raise DataError(
            f"dataset samples have {int(np.prod(x.shape[1:]))} values, input_shape {list(shape)} needs {int(np.prod(shape))}"
        )
    scale = spec.scale if spec.scale is not None else default_scale
    xf = (x.reshape((n, *shape)).astype(np.float64) / scale).astype(np.float32)
    if not np.all(np.isfinite(xf)):
        raise DataError(f"dataset {spec.source} has NaN or infinite inputs")
    classes = int(y.max()) + 1
    if spec.labels is not None:
        if len(spec.labels) < classes:
            raise DataError(f"spec names {len(spec.labels)} labels but the data has class {classes - 1}")
        names = spec.labels
    elif names is None:
        names = tuple(str(i) for i in range(classes))
    return Dataset(x=xf, y=y, labels=tuple(names), sha256=digest, source=spec.source, scale=scale, dvc=dvc)


def _dvc(path: Path, sha256: str) -> dict[str, Any] | None:
    """DVC's record of ``path`` when it lies in a DVC repository (read as is either way)."""
    from tinyfleet.compiler.dvc import dvc_lineage, find_dvc_root

    if find_dvc_root(path) is None:
        return None
    raw = _read(path)
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise DataError(f"dataset {path} changed while it was read")
    return dvc_lineage(path, raw)


def split_dataset(ds: Dataset, validation_split: float, seed: int) -> Split:
    """A seeded permutation; the first ``validation_split`` share is the validation set."""
    n = len(ds.y)
    n_val = max(1, int(round(n * validation_split)))
    if n - n_val < 2:
        raise DataError(f"dataset has {n} samples, too few to split into training and validation data")
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:n_val], order[n_val:]
    return Split(ds.x[train], ds.y[train], ds.x[val], ds.y[val])


def _check_labels(y: np.ndarray, origin: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot
        y = np.argmax(y, axis=1)
    y = y.reshape(-1)
    if y.size == 0:
        raise DataError(f"{origin} has no samples")
    bad_float = (
        not np.issubdtype(y.dtype, np.floating) or not np.all(np.isfinite(y)) or np.any(y != np.round(y))
    )
    if not np.issubdtype(y.dtype, np.integer) and bad_float:
        raise DataError(f"{origin}: labels must be integer class indices")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= MAX_CLASSES:
        raise DataError(f"{origin}: labels must be class indices 0..{MAX_CLASSES - 1}")
    if len(np.unique(y)) < 2:
        raise DataError(f"{origin}: labels name fewer than two classes")
    return y


def _digits() -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.ascontiguousarray(d.images, dtype=np.float64)
    y = np.ascontiguousarray(d.target, dtype=np.int64)
    digest = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
    return x, y, digest


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"dataset {path} does not exist") from None
    except OSError as exc:
        raise DataError(f"cannot read dataset {path}: {exc.strerror}") from None


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    raw = _read(path)
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            if "x" not in z.files or "y" not in z.files:
                raise DataError(
                    f"{path} must hold arrays named 'x' and 'y' (has: {', '.join(z.files) or 'none'})"
                )
            x, y = np.asarray(z["x"]), np.asarray(z["y"])
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{path} is not a readable .npz file ({type(exc).__name__})") from None
    if x.ndim < 2 or not (
        np.issubdtype(x.dtype, np.number) and not np.issubdtype(x.dtype, np.complexfloating)
    ):
        raise DataError(f"{path}: x must be a numeric array of shape (N, ...)")
    y = _check_labels(y, str(path))
    if len(y) != x.shape[0]:
        raise DataError(f"{path}: x has {x.shape[0]} samples but y has {len(y)}")
    return x, y, hashlib.sha256(raw).hexdigest()


def _csv(path: Path, label_column: str) -> tuple[np.ndarray, np.ndarray, str]:
    raw = _read(path)
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path} is not a readable CSV file ({type(exc).__name__})") from None
    rows = [r for r in rows if r]
    if len(rows) < 3:
        raise DataError(f"{path}: a CSV dataset needs a header row and at least two samples")
    header = [h.strip() for h in rows[0]]
    if label_column not in header:
        raise DataError(f"{path}: no label column {label_column!r} in the header ({', '.join(header)})")
    li = header.index(label_column)
    xs, ys = [], []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{path}:{lineno}: {len(row)} fields, the header has {len(header)}")
        try:
            values = [float(v) for v in row]
        except ValueError:
            raise DataError(f"{path}:{lineno}: every field must be a number") from None
        ys.append(values[li])
        xs.append(values[:li] + values[li + 1 :])
    x = np.asarray(xs, dtype=np.float64)
    if x.shape[1] == 0:
        raise DataError(f"{path}: no feature columns besides {label_column!r}")
    y = _check_labels(np.asarray(ys), str(path))
    return x, y, hashlib.sha256(raw).hexdigest()
