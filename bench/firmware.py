"""Firmware figures on the emulated board (`make bench`): per MLPerf Tiny model, instructions per
inference and per MAC, arena bytes against TFLM's, runtime + kernels `.text`, and the OTA
throughput over the emulated UART.

Instructions are counted with SysTick under QEMU `-icount shift=6` (hil/qemu.py): they are
instructions executed, not cycles of a real Cortex-M4.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

MODELS = {
    "kws": "kws_ref_model.tflite",
    "vww": "vww_96_int8.tflite",
    "ic": "pretrainedResnet_quant.tflite",
    "ad": "ad01_int8.tflite",
}
TARGET_INSTR_PER_MAC = 3.0  # issue 3: <= 3 on KWS, VWW and IC
TARGET_TEXT_BYTES = 32 * 1024


def _mlperf_dir() -> Path:
    env = os.environ.get("TINYFLEET_MLPERF_DIR")
    return (
        Path(env)
        if env
        else Path(__file__).resolve().parent.parent.parent / "shared" / "models" / "mlperf_tiny"
    )


def runtime_text_bytes() -> str:
    """`.text` of runtime + kernels for Cortex-M4 -Os, from the firmware Makefile's size target."""
    fw = Path(__file__).resolve().parent.parent / "firmware"
    r = subprocess.run(
        ["make", "--no-print-directory", "-C", str(fw), "size-m4"],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        return f"n/a (make size-m4 failed: {(r.stderr.strip().splitlines() or ['?'])[-1]})"
    lines = [ln.strip() for ln in r.stdout.splitlines() if ".text" in ln]
    return "; ".join(lines) if lines else "n/a (no .text figure in make size-m4)"


def run() -> None:
    from tinyfleet.compiler.flatbuffer import read_tflite
    from tinyfleet.hil.run_model import run_model

    console = Console(width=150)
    d = _mlperf_dir()
    table = Table(title="MLPerf Tiny on qemu-an386 (instructions via SysTick, -icount shift=6)")
    for col in (
        "model",
        "bit-exact",
        "instructions/inference",
        "MACs",
        "instr/MAC",
        "arena",
        "TFLM arena",
        "OTA KB/s",
    ):
        table.add_column(col, justify="right")
    rng = np.random.default_rng(0)
    for short, fname in MODELS.items():
        path = d / "models" / fname
        if not path.is_file():
            console.print(f"[yellow]{short}: {path} absent (set TINYFLEET_MLPERF_DIR)[/yellow]")
            continue
        info = read_tflite(path.read_bytes())
        x = rng.integers(-128, 128, size=(2, *info.input.shape[1:]), dtype=np.int8)
        with tempfile.TemporaryDirectory() as tmp:
            xp = Path(tmp) / "x.npy"
            np.save(xp, x)
            t0 = time.perf_counter()
            report = run_model(path, xp, progress=False)
            elapsed = time.perf_counter() - t0
        j = report.as_json()
        ota = report.ota_bytes / report.ota_seconds / 1024 if report.ota_seconds else 0.0
        table.add_row(
            short,
            "yes" if report.bitexact else "NO",
            f"{j['instructions_per_inference']:,}",
            f"{report.macs:,}",
            f"{j['instructions_per_mac']}",
            f"{report.arena_bytes:,}",
            f"{report.tflm_arena_bytes:,}",
            f"{ota:.1f}",
        )
        console.print(f"[dim]{short}: {elapsed:.1f} s[/dim]")
    console.print(table)
    console.print(f"targets: <= {TARGET_INSTR_PER_MAC} instructions/MAC on KWS, VWW, IC; arena <= TFLM's")
    console.print(f"{runtime_text_bytes()} (target <= {TARGET_TEXT_BYTES} bytes)")
