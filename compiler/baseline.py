"""Golden vectors and the drift baseline, both computed on validation data with TFLM's outputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyfleet.drift import N_BINS, class_counts, confidence_histogram, input_histogram
from tinyfleet.errors import DataError
from tinyfleet.golden import HEADER, GoldenSet
from tinyfleet.stats.cbpe import calibrate

__all__ = [
    "GOLDEN_MAX_BYTES",
    "calibration",
    "drift_baseline",
    "golden_bytes",
    "golden_count",
    "golden_set",
    "tolerances",
]

GOLDEN_MAX_BYTES = 64 * 1024


def golden_count(requested: int, model_bytes: int, record_bytes: int, slot_bytes: list[int]) -> int:
    """How many golden vectors a package carries.

    They travel with the model into the MCU's slot, so large inputs get fewer: at most
    ``GOLDEN_MAX_BYTES`` of records (at least one), and never more than the smallest slot leaves free.
    """
    room = min([GOLDEN_MAX_BYTES] + [s - model_bytes - HEADER.size for s in slot_bytes])
    return max(1, min(requested, room // record_bytes))


def golden_bytes(count: int, record_bytes: int) -> int:
    return HEADER.size + count * record_bytes


def golden_set(x: np.ndarray, outputs: dict[str, np.ndarray], y: np.ndarray | None, count: int) -> GoldenSet:
    """``count`` inputs with TFLM's outputs, chosen so every runtime agrees on the arg-max.

    With labels, only inputs TFLM classifies correctly are taken, cycling over the classes so the
    self-test exercises several outputs; without labels (or for a single-output model), the first
    inputs where the runtimes agree.
    """
    tflm = outputs["tflm"]
    ok = np.ones(len(x), dtype=bool)
    multi = tflm.ndim == 2 and tflm.shape[1] > 1
    if multi:
        top = np.argmax(tflm, axis=1)
        for v in outputs.values():
            ok &= np.argmax(v, axis=1) == top
        if y is not None:
            ok &= top == y
    chosen: list[int] = []
    if multi and y is not None:
        pools = {int(c): list(np.flatnonzero(ok & (y == c))) for c in np.unique(y)}
        while len(chosen) < count and any(pools.values()):
            for c in sorted(pools):
                if pools[c] and len(chosen) < count:
                    chosen.append(int(pools[c].pop(0)))
    else:
        chosen = [int(i) for i in np.flatnonzero(ok)[:count]]
    if not chosen:
        raise DataError("no input on which the runtimes agree; cannot make golden vectors")
    idx = np.asarray(chosen)
    return GoldenSet(
        inputs=x[idx].reshape(len(idx), -1).astype(np.int8),
        outputs=tflm[idx].reshape(len(idx), -1).astype(np.int8),
    )


def tolerances(agreement: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Per runtime, the largest |difference| from TFLM in int8 LSB the self-test allows (measured)."""
    tol = {"tinyfleet-mcu": 0, "tflm": 0}
    names = {"litert_ref": "litert", "model_int8.onnx": "onnxruntime"}
    for key, runtime in names.items():
        if key in agreement:
            tol[runtime] = int(agreement[key]["max_abs_diff"])
    return tol


def calibration(tflm_out: np.ndarray, y: np.ndarray | None) -> dict[str, Any] | None:
    """Per confidence bin (the contract's 16 bins of the top int8 output): validation samples and
    correct arg-max predictions. None without labels or for a single-output model."""
    out = np.asarray(tflm_out)
    if y is None or out.ndim != 2 or out.shape[1] < 2 or len(y) != len(out):
        return None
    top = np.max(out.astype(np.int16), axis=1)
    cal = calibrate((top + 128) >> 4, np.argmax(out, axis=1) == np.asarray(y), N_BINS)
    return {"bins": N_BINS, "n": list(cal.n), "correct": list(cal.correct)}


def drift_baseline(
    x: np.ndarray, tflm_out: np.ndarray, groups: int, y: np.ndarray | None = None
) -> dict[str, Any]:
    """Histograms of ALL the validation inputs and TFLM's outputs on them (``n`` records how many),
    and, with labels, the confidence calibration."""
    flat = x.reshape(len(x), -1)
    if not 1 <= groups <= flat.shape[1]:
        raise DataError(f"drift_groups must be 1..{flat.shape[1]} for this input")
    base: dict[str, Any] = {
        "n": int(len(x)),
        "input": {"bins": N_BINS, "groups": groups, "hist": input_histogram(flat, groups).tolist()},
        "confidence": {"bins": N_BINS, "hist": confidence_histogram(tflm_out).tolist()},
    }
    base["output_classes"] = {"counts": class_counts(tflm_out).tolist()}
    cal = calibration(tflm_out, y)
    if cal is not None:
        base["calibration"] = cal
    return base
