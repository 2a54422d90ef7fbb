"""Micro-runtime figures per MLPerf Tiny model: arena bytes vs TFLM's smallest working arena,
MACs, host time per inference, instructions per inference and per MAC on the emulated
Cortex-M4F (bare-metal check program under QEMU `-icount shift=6`, DSP SIMD kernels, output
compared with TFLM), and the runtime's Cortex-M4 code size.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from tinyfleet.hil.host_runtime import FIRMWARE, HostModel, m4_check, tflm_min_arena, tflm_outputs

MODELS = {
    "kws": "kws_ref_model.tflite",
    "vww": "vww_96_int8.tflite",
    "ic": "pretrainedResnet_quant.tflite",
    "ad": "ad01_int8.tflite",
}


def _mlperf_dir() -> Path:
    env = os.environ.get("TINYFLEET_MLPERF_DIR")
    return Path(env) if env else FIRMWARE.parent.parent / "shared" / "models" / "mlperf_tiny"


def m4_text_bytes() -> dict[str, int]:
    """`make -C firmware size-m4`: .text of the runtime objects, and of the linked API image."""
    out = subprocess.run(
        ["make", "--no-print-directory", "-C", str(FIRMWARE), "size-m4"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sizes = {}
    for key, pattern in (
        ("objects", r"objects\): (\d+)"),
        ("linked", r"helpers\): (\d+)"),
        ("model_struct", r"sizeof\(tfrt_model\) bytes \(cortex-m4\): (\d+)"),
    ):
        m = re.search(pattern, out)
        if m:
            sizes[key] = int(m.group(1))
    return sizes


def _host_ns(model: HostModel, x: np.ndarray, budget_s: float = 1.0) -> float:
    model.invoke(x)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        model.invoke(x)
        n += 1
    return (time.perf_counter() - t0) / n * 1e9


def run() -> None:
    console = Console(width=150)
    folder = _mlperf_dir() / "models"
    if not (folder / MODELS["kws"]).is_file():
        console.print(f"[yellow]runtime: MLPerf Tiny models absent in {folder}[/yellow]")
        return
    table = Table(title="micro runtime (host build) vs TFLM")
    cols = (
        "model",
        "arena B",
        "TFLM arena B",
        "arena / TFLM",
        "MACs",
        "host µs/inf",
        "M4 instr/inf",
        "instr/MAC",
        "M4 = TFLM",
    )
    for col in cols:
        table.add_column(col, justify="right")
    rng = np.random.default_rng(0)
    for name, file in MODELS.items():
        blob = (folder / file).read_bytes()
        model = HostModel(blob)
        x = rng.integers(-128, 128, size=model.input.shape, dtype=np.int8)
        tflm = tflm_min_arena(blob, x)
        try:
            m4 = m4_check(blob, x)
            m4_cells = (
                f"{m4.instructions:,}",
                f"{m4.instructions / m4.macs:.2f}",
                "yes"
                if m4.output == tflm_outputs(blob, [x])[0].tobytes() and not m4.dsp_mismatches
                else "NO",
            )
        except Exception as exc:  # noqa: BLE001 - a missing QEMU must not hide the host figures
            m4_cells = ("n/a", "n/a", type(exc).__name__)
        table.add_row(
            name,
            f"{model.arena_required:,}",
            f"{tflm:,}",
            f"{model.arena_required / tflm:.2f}",
            f"{model.macs:,}",
            f"{_host_ns(model, x) / 1e3:,.0f}",
            *m4_cells,
        )
    console.print(table)
    console.print(
        "arena B = tfrt_arena_required(): activations + per-channel multipliers + kernel scratch. "
        "TFLM's arena also holds its tensor/op metadata; ours is the caller's tfrt_model (size below). "
        "M4 figures: bare-metal QEMU mps2-an386, -icount shift=6, runtime built -Os (hot kernels -O2)."
    )
    try:
        sizes = m4_text_bytes()
    except (OSError, subprocess.CalledProcessError) as exc:
        console.print(f"[yellow]runtime: size-m4 unavailable ({exc})[/yellow]")
        return
    console.print(
        f"runtime + kernels .text (Cortex-M4 -Os): {sizes.get('objects', 0):,} B in objects, "
        f"{sizes.get('linked', 0):,} B linked with .rodata and libm/libgcc helpers (target ≤ 32 KB)"
    )
    console.print(
        f"sizeof(tfrt_model) on Cortex-M4: {sizes.get('model_struct', 0):,} B "
        "(TFRT_MAX_TENSORS=128, TFRT_MAX_OPS=96; a build may lower both)"
    )
