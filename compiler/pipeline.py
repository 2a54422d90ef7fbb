"""The pipeline stages over a run folder; the CLI commands and `build` are made of these.

train     SPEC            → model.keras, data.npz, train.json, spec.toml
quantize  run folder      → model.tflite, quantize.json
convert   run folder      → model.c, model.h, model_float.onnx, model_int8.onnx
verify    model.tflite    → Evaluation (+ per-board checks)
package   run folder      → NAME-VERSION.tfpkg
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tinyfleet.compiler.carray import model_c, model_h
from tinyfleet.compiler.flatbuffer import read_tflite
from tinyfleet.compiler.spec import Spec, parse_spec
from tinyfleet.compiler.train import Run
from tinyfleet.compiler.verify import Evaluation, VerifyData, data_from_arrays, evaluate
from tinyfleet.errors import DataError, UsageError
from tinyfleet.fsutil import atomic_write_bytes, atomic_write_text

__all__ = [
    "C_ARTIFACTS",
    "ONNX_ARTIFACTS",
    "c_files",
    "convert_stage",
    "load_model_file",
    "load_npz_data",
    "quantize_stage",
    "run_spec",
    "validation_data",
    "verify_stage",
]

ONNX_ARTIFACTS = ("model_float.onnx", "model_int8.onnx")
C_ARTIFACTS = ("model.c", "model.h")


def run_spec(run: Run) -> Spec | None:
    """The spec recorded in a run folder (None when the run has none)."""
    if not run.spec_text:
        return None
    return parse_spec(run.spec_text, base_dir=Path.cwd(), origin="the run's spec.toml")


def quantize_stage(run: Run, folder: Path, samples: int, seed: int) -> tuple[bytes, dict[str, Any]]:
    from tinyfleet.compiler.quantize import quantize_inputs, quantize_model, representative_samples
    from tinyfleet.compiler.runtimes import tflm_run

    rep = representative_samples(run.split.x_train, samples, seed)
    blob = quantize_model(run.model, rep)
    info = read_tflite(blob)
    assert info.input.scale is not None and info.input.zero_point is not None
    q = quantize_inputs(run.split.x_val, info.input.scale, info.input.zero_point)
    out = tflm_run(blob, q)
    record = {
        "representative_samples": int(len(rep)),
        "representative_seed": seed,
        "accuracy_float": float(run.record["accuracy_float"]),
        "accuracy_int8": float(np.mean(np.argmax(out, 1) == run.split.y_val)),
        "model_bytes": len(blob),
        "input": info.input.as_dict(),
        "output": info.output.as_dict(),
    }
    atomic_write_bytes(folder / "model.tflite", blob)
    atomic_write_text(folder / "quantize.json", json.dumps(record, indent=2) + "\n")
    return blob, record


def convert_stage(
    run: Run, blob: bytes, folder: Path, name: str, samples: int, seed: int
) -> dict[str, bytes]:
    from tinyfleet.compiler.onnx_export import onnx_float, onnx_int8_qdq
    from tinyfleet.compiler.quantize import representative_samples

    files = c_files(name, blob)
    fl = onnx_float(run.model)
    files["model_float.onnx"] = fl
    files["model_int8.onnx"] = onnx_int8_qdq(fl, representative_samples(run.split.x_train, samples, seed))
    for fname, data in files.items():
        atomic_write_bytes(folder / fname, data)
    return files


def c_files(name: str, blob: bytes) -> dict[str, bytes]:
    return {"model.c": model_c(name, blob).encode(), "model.h": model_h(name, len(blob)).encode()}


def validation_data(run: Run, blob: bytes) -> VerifyData:
    info = read_tflite(blob)
    return data_from_arrays(info, run.split.x_val, run.split.y_val, "validation")


def verify_stage(
    blob: bytes, data: VerifyData | None, onnx: dict[str, bytes] | None, what: str
) -> Evaluation:
    return evaluate(blob, data, onnx, what)


def load_model_file(path: Path) -> bytes:
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"model {path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder without model.tflite") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    return blob


def load_npz_data(path: Path, blob: bytes) -> VerifyData:
    """`--data X.npz`: ``x`` (int8 or float) and optional ``y`` labels."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z.files:
                raise DataError(f"{path} has no array named 'x'")
            x = np.asarray(z["x"])
            y = np.asarray(z["y"]) if "y" in z.files else None
    except DataError:
        raise
    except FileNotFoundError:
        raise UsageError(f"data file {path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - numpy raises many types for a damaged file
        raise DataError(f"{path} is not a readable .npz file ({type(exc).__name__})") from None
    if y is not None and y.ndim == 2 and y.shape[1] > 1:
        y = np.argmax(y, axis=1)
    return data_from_arrays(read_tflite(blob), x, y, path.name)
