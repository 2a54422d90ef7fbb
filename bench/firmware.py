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
TARGET_INSTR_PER_MAC = 2.0  # issue 14: <= 2 on each MLPerf model
TARGET_TEXT_BYTES = 24 * 1024  # issue 14: runtime + kernels .text at -Os


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


def _sizeof_model_tables() -> int:
    """sizeof(tfrt_model): the runtime's per-model tables (tensors, ops), static RAM beside the arena."""
    fw = Path(__file__).resolve().parent.parent / "firmware"
    r = subprocess.run(
        ["make", "--no-print-directory", "-C", str(fw), "size-m4"],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in r.stdout.splitlines():
        if line.startswith("sizeof(tfrt_model)"):
            return int(line.rsplit(":", 1)[1])
    return 0


def run() -> None:
    from tinyfleet.compiler.flatbuffer import read_tflite
    from tinyfleet.hil.layout import flash_layout
    from tinyfleet.hil.pio import EMULATED_BOARDS, elf_sections
    from tinyfleet.hil.run_model import hil_firmware, hil_key, run_model

    console = Console(width=170)
    d = _mlperf_dir()
    tables = _sizeof_model_tables()
    for board in EMULATED_BOARDS:
        layout = flash_layout(board)
        with tempfile.TemporaryDirectory() as tmp:
            sections = elf_sections(hil_firmware(board, hil_key(), Path(tmp) / "fw"))
        static_ram = sum(sections.get(k, 0) for k in (".data", ".bss", ".stack"))
        fixed_ram = static_ram - layout.arena_bytes  # everything but the tensor arena reservation
        # the staged input lives in the arena, after the model's plan (firmware/core: staging)
        table = Table(title=f"MLPerf Tiny on {board} (instructions via SysTick, -icount shift=6)")
        for col in (
            "model",
            "bit-exact",
            "instructions/inference",
            "MACs",
            "instr/MAC",
            "arena",
            "all-in RAM (arena+tables+input)",
            "TFLM arena",
            "all-in / TFLM",
            "RAM free (arena sized to the model)",
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
                report = run_model(path, xp, board=board, progress=False)
                elapsed = time.perf_counter() - t0
            j = report.as_json()
            ota = report.ota_bytes / report.ota_seconds / 1024 if report.ota_seconds else 0.0
            staged = int(np.prod(info.input.shape))
            all_in = report.arena_bytes + tables + staged
            free = layout.ram_bytes - fixed_ram - report.arena_bytes - staged
            table.add_row(
                short,
                "yes" if report.bitexact else "NO",
                f"{j['instructions_per_inference']:,}",
                f"{report.macs:,}",
                f"{j['instructions_per_mac']}",
                f"{report.arena_bytes:,}",
                f"{all_in:,}",
                f"{report.tflm_arena_bytes:,}",
                f"{all_in / report.tflm_arena_bytes:.2f}" if report.tflm_arena_bytes else "n/a",
                f"{free:,} ({100 * free / layout.ram_bytes:.0f} %)",
                f"{ota:.1f}",
            )
            console.print(f"[dim]{board} {short}: {elapsed:.1f} s[/dim]")
        console.print(table)
        console.print(
            f"{board}: static RAM {static_ram:,} of {layout.ram_bytes:,} bytes with the "
            f"{layout.arena_bytes:,}-byte arena reserved ({100 * (1 - static_ram / layout.ram_bytes):.1f} % free); "
            f"tables (sizeof tfrt_model) {tables:,}; the staged input lives in the arena"
        )
    console.print(
        f"targets: <= {TARGET_INSTR_PER_MAC} instructions/MAC on each MLPerf model; all-in RAM <= 0.8 x TFLM's "
        f"arena; >= 20 % RAM free with the largest model. OTA KB/s includes COMMIT, reboot, self-test, CONFIRM."
    )
    console.print(f"{runtime_text_bytes()} (target <= {TARGET_TEXT_BYTES} bytes)")
