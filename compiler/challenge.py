"""Champion/challenger: the running model and a retrained one on the same data, int8 in TFLM.

Both are scored on the spec's original validation split and on a held-out part of the captured
data: accuracy, per-class accuracy (recall), expected calibration error, and the drift of the captured
inputs against the champion's baseline. The verdict: the challenger may be published unless its
accuracy on the original validation data is lower than the champion's by more than ``margin``
(an absolute accuracy difference; a retrained model must not forget what it knew to learn the drift).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyfleet.compiler.flatbuffer import read_tflite
from tinyfleet.compiler.quantize import dequantize, quantize_inputs
from tinyfleet.compiler.runtimes import tflm_run
from tinyfleet.drift import input_histogram, js_distance, psi

__all__ = [
    "DEFAULT_MARGIN",
    "ECE_BINS",
    "Scores",
    "calibration_error",
    "compare",
    "drift_of",
    "per_class_accuracy",
    "score_model",
]

DEFAULT_MARGIN = 0.01  # challenger may be at most 1 accuracy point worse on the original validation data
ECE_BINS = 10


@dataclass(frozen=True)
class Scores:
    n: int
    accuracy: float
    per_class: list[float | None]  # recall per class; None for a class absent from the data
    ece: float

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "accuracy": self.accuracy, "per_class": self.per_class, "ece": self.ece}


def per_class_accuracy(pred: np.ndarray, y: np.ndarray, n_classes: int) -> list[float | None]:
    out: list[float | None] = []
    for c in range(n_classes):
        mask = y == c
        out.append(float(np.mean(pred[mask] == c)) if np.any(mask) else None)
    return out


def calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: Σ_b (n_b/N)·|accuracy_b − mean confidence_b| over equal-width
    confidence bins of the top-class probability."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if np.any(m):
            total += float(np.sum(m)) / len(y) * abs(float(np.mean(correct[m])) - float(np.mean(conf[m])))
    return total


def score_model(blob: bytes, x_float: np.ndarray, y: np.ndarray, n_classes: int) -> Scores:
    """TFLM's int8 outputs for float inputs (quantized with the model's own input parameters)."""
    info = read_tflite(blob)
    assert info.input.scale is not None and info.input.zero_point is not None
    assert info.output.scale is not None and info.output.zero_point is not None
    q = quantize_inputs(
        x_float.reshape(len(x_float), *info.input.shape[1:]), info.input.scale, info.input.zero_point
    )
    out = tflm_run(blob, q)
    probs = dequantize(out.reshape(len(out), -1), info.output.scale, info.output.zero_point)
    pred = probs.argmax(axis=1)
    return Scores(
        n=int(len(y)),
        accuracy=float(np.mean(pred == y)) if len(y) else float("nan"),
        per_class=per_class_accuracy(pred, y, n_classes),
        ece=calibration_error(probs, y) if len(y) else float("nan"),
    )


def drift_of(x_int8: np.ndarray, baseline: Mapping[str, Any]) -> dict[str, float]:
    """PSI and Jensen–Shannon distance of captured int8 inputs against a package's input baseline
    (summed over feature groups: PSI adds up, JS is the mean)."""
    ref = np.asarray(baseline["input"]["hist"], dtype=np.float64)
    live = input_histogram(np.asarray(x_int8, np.int8), int(baseline["input"]["groups"]))
    return {
        "psi": float(sum(psi(r, g) for r, g in zip(ref, live, strict=True))),
        "js": float(np.mean([js_distance(r, g) for r, g in zip(ref, live, strict=True)])),
    }


def compare(
    champion: Mapping[str, Scores], challenger: Mapping[str, Scores], margin: float
) -> dict[str, Any]:
    """The verdict on the sets both were scored on (``original`` decides, ``captured`` informs)."""
    delta = challenger["original"].accuracy - champion["original"].accuracy
    out: dict[str, Any] = {
        "margin": margin,
        "original_delta": delta,
        "publishable": bool(delta >= -margin),
    }
    if "captured" in champion and "captured" in challenger:
        out["captured_delta"] = challenger["captured"].accuracy - champion["captured"].accuracy
        out["challenger_wins"] = bool(out["publishable"] and out["captured_delta"] > 0)
    else:
        out["challenger_wins"] = bool(out["publishable"] and delta > 0)
    if not out["publishable"]:
        out["reason"] = (
            f"the challenger is worse than the champion on the original validation data by "
            f"{-delta:.4f} (more than the margin {margin:.4f})"
        )
    return out


def table(report: Mapping[str, Any], labels: Sequence[str]) -> str:
    """A readable comparison (also written as challenge.txt)."""
    lines = [f"champion {report['champion']['model']}  vs  challenger {report['challenger']['model']}"]
    for split in ("original", "captured"):
        if split not in report["champion"]["scores"]:
            continue
        a, b = report["champion"]["scores"][split], report["challenger"]["scores"][split]
        lines.append(
            f"{split:9s} n={a['n']:5d}  accuracy {a['accuracy']:.4f} → {b['accuracy']:.4f}   "
            f"ECE {a['ece']:.4f} → {b['ece']:.4f}"
        )
        per = [
            f"{labels[i] if i < len(labels) else i}:{'-' if x is None else f'{x:.2f}'}→{'-' if z is None else f'{z:.2f}'}"
            for i, (x, z) in enumerate(zip(a["per_class"], b["per_class"], strict=True))
        ]
        lines.append("          per class " + " ".join(per))
    if "drift" in report:
        d = report["drift"]
        lines.append(f"captured inputs vs the champion's baseline: PSI {d['psi']:.3f}, JS {d['js']:.3f}")
    v = report["verdict"]
    lines.append(
        f"verdict: {'publishable' if v['publishable'] else 'REFUSED'} (original Δ {v['original_delta']:+.4f}, "
        f"margin {v['margin']}){'; challenger wins' if v.get('challenger_wins') else ''}"
    )
    return "\n".join(lines) + "\n"
