"""The build report: `report.json`, a readable table (`report.txt`) and a confusion-matrix plot."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from tinyfleet.fsutil import atomic_write_bytes, atomic_write_text

__all__ = [
    "confusion",
    "reliability",
    "render_table",
    "write_confusion_plot",
    "write_reliability_plot",
    "write_report",
]


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return m


def render_table(report: dict[str, Any]) -> str:
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=False, color_system=None)
    m = report["model"]
    console.print(
        f"{m['name']} {m['version']} (security counter {m['security_counter']})  "
        f"package {report['package']['file']}  sha256 {report['package']['sha256'][:16]}…"
    )
    t = Table(title="stages", title_justify="left")
    t.add_column("stage")
    t.add_column("seconds", justify="right")
    for stage, secs in report["stages"].items():
        t.add_row(stage, f"{secs:.2f}")
    console.print(t)
    acc = Table(title="accuracy on validation data", title_justify="left")
    acc.add_column("model")
    acc.add_column("accuracy", justify="right")
    acc.add_row("float (Keras)", f"{report['accuracy']['float']:.4f}")
    for rt, a in report["accuracy"]["runtimes"].items():
        acc.add_row(rt if rt.endswith(".onnx") else f"int8 {rt}", f"{a:.4f}")
    console.print(acc)
    ag = Table(title="agreement with TFLM (int8 LSB)", title_justify="left")
    for col in ("runtime", "bit-exact", "max |diff|", "mismatches", "arg-max agree"):
        ag.add_column(col)
    for rt, a in report["verify"]["agreement"].items():
        ag.add_row(
            rt,
            "yes" if a["bitexact"] else "no",
            str(a["max_abs_diff"]),
            f"{a['mismatches']}/{a['values']}",
            f"{a['argmax_agree']:.4f}",
        )
    console.print(ag)
    b = Table(
        title=f"boards (model {report['verify']['model_bytes']} B, TFLM arena "
        f"{report['verify']['tflm_arena_bytes']} B, ops {', '.join(report['verify']['ops'])})",
        title_justify="left",
    )
    for col in ("board", "flash B", "slot B", "arena budget B", "unsupported ops", "fits"):
        b.add_column(col)
    for c in report["boards"]:
        b.add_row(
            c["board"],
            str(c["flash_bytes"]),
            str(c["model_slot_bytes"]),
            str(c["arena_budget"]),
            ", ".join(c["unsupported_ops"]) or "-",
            "yes" if c["fits"] else "no",
        )
    console.print(b)
    return buf.getvalue()


def write_confusion_plot(
    path: Path, float_cm: np.ndarray, int8_cm: np.ndarray, labels: list[str], title: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), constrained_layout=True)
    vmax = max(int(float_cm.max()), int(int8_cm.max()), 1)
    for ax, cm, name in ((axes[0], float_cm, "float (Keras)"), (axes[1], int8_cm, "int8 (TFLM)")):
        acc = np.trace(cm) / max(cm.sum(), 1)
        ax.imshow(cm, cmap="Blues", vmin=0, vmax=vmax)
        ax.set_title(f"{name}: accuracy {acc:.4f}")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        if len(labels) <= 20:
            for i in range(cm.shape[0]):
                for j in range(cm.shape[1]):
                    if cm[i, j]:
                        ax.text(
                            j,
                            i,
                            str(cm[i, j]),
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if cm[i, j] > vmax / 2 else "black",
                        )
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def reliability(calibration: dict[str, Any]) -> dict[str, Any]:
    """The reliability diagram of a package's ``calibration`` (per top-confidence bin: samples,
    accuracy of the arg-max) and its expected calibration error, ``Σ n_b/N · |acc_b − conf_b|``
    with conf_b the bin's middle confidence."""
    n = [int(x) for x in calibration["n"]]
    correct = [int(x) for x in calibration["correct"]]
    bins = len(n)
    total = sum(n)
    rows = [
        {
            "confidence": (b + 0.5) / bins,
            "n": n[b],
            "accuracy": correct[b] / n[b] if n[b] else None,
        }
        for b in range(bins)
    ]
    ece = (
        sum(n[b] / total * abs(correct[b] / n[b] - (b + 0.5) / bins) for b in range(bins) if n[b])
        if total
        else 0.0
    )
    return {"bins": rows, "samples": total, "ece": ece}


def write_reliability_plot(path: Path, diagram: dict[str, Any], title: str) -> None:
    """Accuracy against confidence per bin (bars, with the sample count), beside the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in diagram["bins"] if r["n"]]
    fig, ax = plt.subplots(figsize=(5.2, 4.6), constrained_layout=True)
    width = 1.0 / len(diagram["bins"])
    ax.bar([r["confidence"] for r in rows], [r["accuracy"] for r in rows], width=width * 0.9, color="#4a7ab8")
    for r in rows:
        ax.text(r["confidence"], r["accuracy"] + 0.01, str(r["n"]), ha="center", fontsize=6)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("top-output confidence (bin middle)")
    ax.set_ylabel("accuracy of the arg-max")
    ax.set_title(f"{title}\nECE {diagram['ece']:.4f} on {diagram['samples']} validation samples", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def write_report(folder: Path, report: dict[str, Any]) -> str:
    atomic_write_text(folder / "report.json", json.dumps(report, indent=2) + "\n")
    table = render_table(report)
    atomic_write_text(folder / "report.txt", table)
    return table
