"""Deterministic training into a run folder.

Same spec and same data give the same weights: Python, NumPy and TensorFlow are seeded
(`keras.utils.set_random_seed`), TensorFlow's deterministic ops are on and it runs single-threaded.

A run folder holds ``spec.toml`` (as written), ``model.keras``, ``data.npz`` (the split used:
``x_train``, ``y_train``, ``x_val``, ``y_val``, ``labels``) and ``train.json`` (seeds, dataset
sha256, library versions, float accuracy).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyfleet.compiler.architectures import make_model
from tinyfleet.compiler.datasets import Dataset, Split, load_dataset, split_dataset
from tinyfleet.compiler.spec import Spec
from tinyfleet.errors import DataError, UsageError
from tinyfleet.fsutil import atomic_write_bytes, atomic_write_text

__all__ = ["Run", "library_versions", "load_run", "prepare_tensorflow", "train", "write_run"]


@dataclass
class Run:
    """A trained model and everything later stages need."""

    model: Any  # keras.Model
    split: Split
    labels: tuple[str, ...]
    record: dict[str, Any]  # train.json
    spec_text: str = ""


def prepare_tensorflow(seed: int) -> Any:
    """Import TensorFlow quietly, single-threaded and deterministic; returns the module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised in this process: the setting stays as it was first made
    tf.get_logger().setLevel("ERROR")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return tf


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in (
        "tensorflow-cpu",
        "keras",
        "numpy",
        "scikit-learn",
        "tflite-micro",
        "ai-edge-litert",
        "onnx",
        "onnxruntime",
        "tf2onnx",
    ):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def train(
    spec: Spec,
    dataset: Dataset | None = None,
    verbose: int = 0,
    on_epoch: Callable[[int, int, float], None] | None = None,
    extra_train: tuple[np.ndarray, np.ndarray] | None = None,
    lineage: list[dict[str, Any]] | None = None,
) -> Run:
    """Train the spec's model; ``on_epoch(epoch, epochs, accuracy)`` is called after every epoch.

    ``extra_train`` (float inputs shaped like the dataset's, labels) is added to the training part
    only, so the validation split stays the spec's own (retraining; ``lineage`` says what it is).
    """
    ts = spec.train
    t0 = time.perf_counter()
    ds = dataset if dataset is not None else load_dataset(spec.data)
    split = split_dataset(ds, spec.data.validation_split, ts.seed)
    if extra_train is not None and len(extra_train[1]):
        ex, ey = extra_train
        split = Split(
            np.concatenate([split.x_train, ex.astype(np.float32).reshape(len(ex), *ds.x.shape[1:])]),
            np.concatenate([split.y_train, ey.astype(split.y_train.dtype)]),
            split.x_val,
            split.y_val,
        )
    n_classes = len(ds.labels)
    prepare_tensorflow(ts.seed)
    import keras

    keras.backend.clear_session()  # fresh layer-name counters: the same spec gives the same graph names
    keras.utils.set_random_seed(ts.seed)
    model = make_model(ts.architecture, tuple(ds.x.shape[1:]), n_classes)
    if ts.epochs > 0:
        model.compile(
            optimizer=keras.optimizers.Adam(ts.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        callbacks = []
        if on_epoch is not None:
            callbacks.append(
                keras.callbacks.LambdaCallback(
                    on_epoch_end=lambda e, logs: on_epoch(
                        e + 1, ts.epochs, float((logs or {}).get("accuracy", 0.0))
                    )
                )
            )
        model.fit(
            split.x_train,
            split.y_train,
            epochs=ts.epochs,
            batch_size=ts.batch_size,
            shuffle=True,
            verbose=verbose,
            callbacks=callbacks,
        )
    probs = model.predict(split.x_val, batch_size=256, verbose=0)
    if probs.ndim != 2 or probs.shape[1] != n_classes:
        raise DataError(f"model output shape {list(probs.shape[1:])} does not match {n_classes} classes")
    acc = float(np.mean(np.argmax(probs, axis=1) == split.y_val))
    record = {
        "name": spec.name,
        "architecture": Path(ts.architecture).name if ts.architecture.endswith(".keras") else ts.architecture,
        "seeds": {"python": ts.seed, "numpy": ts.seed, "tensorflow": ts.seed, "split": ts.seed},
        "epochs": ts.epochs,
        "batch_size": ts.batch_size,
        "learning_rate": ts.learning_rate,
        "dataset": {
            "source": Path(ds.source).name,
            "sha256": ds.sha256,
            "n": int(len(ds.y)),
            "n_train": int(len(split.y_train)),
            "n_val": int(len(split.y_val)),
            "scale": ds.scale,
            **({"dvc": ds.dvc} if ds.dvc else {}),
            **({"added": list(lineage)} if lineage else {}),
        },
        "input_shape": list(ds.x.shape[1:]),
        "labels": list(ds.labels),
        "parameters": int(model.count_params()),
        "accuracy_float": acc,
        "libraries": library_versions(),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return Run(model=model, split=split, labels=ds.labels, record=record, spec_text=spec.text)


def write_run(run: Run, out: Path) -> None:
    """Write a run into folder ``out`` (the caller makes it atomic)."""
    import io

    out.mkdir(parents=True, exist_ok=True)
    run.model.save(out / "model.keras")
    buf = io.BytesIO()
    s = run.split
    np.savez(
        buf, x_train=s.x_train, y_train=s.y_train, x_val=s.x_val, y_val=s.y_val, labels=np.asarray(run.labels)
    )
    atomic_write_bytes(out / "data.npz", buf.getvalue())
    atomic_write_text(out / "train.json", json.dumps(run.record, indent=2) + "\n")
    if run.spec_text:
        atomic_write_text(out / "spec.toml", run.spec_text)


def load_run(folder: Path, with_model: bool = True) -> Run:
    """Read a run folder written by :func:`write_run`."""
    folder = Path(folder)
    needed = ["data.npz", "train.json"] + (["model.keras"] if with_model else [])
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise UsageError(
            f"{folder} is not a run folder from `tinyfleet model train` (missing {', '.join(missing)})"
        )
    try:
        record = json.loads((folder / "train.json").read_text("utf-8"))
        with np.load(folder / "data.npz", allow_pickle=False) as z:
            split = Split(z["x_train"], z["y_train"], z["x_val"], z["y_val"])
            labels = tuple(str(x) for x in z["labels"])
    except (ValueError, OSError, KeyError) as exc:
        raise DataError(f"{folder}: run files are damaged ({type(exc).__name__}: {exc})") from None
    model = None
    if with_model:
        prepare_tensorflow(int(record.get("seeds", {}).get("tensorflow", 0)))
        import keras

        try:
            model = keras.models.load_model(folder / "model.keras", compile=False)
        except Exception as exc:  # noqa: BLE001 - keras raises many types for a bad file
            raise DataError(f"cannot load {folder / 'model.keras'}: {type(exc).__name__}") from None
    spec_path = folder / "spec.toml"
    spec_text = spec_path.read_text("utf-8") if spec_path.is_file() else ""
    return Run(model=model, split=split, labels=labels, record=record, spec_text=spec_text)
