"""Compiler figures (`make bench`): the digits pipeline's wall time per stage, float vs int8
accuracy, model bytes and TFLM arena bytes; and per MLPerf Tiny model the op list, model bytes,
measured TFLM arena, verify time and TFLM vs LiteRT-REF agreement. Figures, never asserts.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

MODELS = {
    "kws": "kws_ref_model.tflite",
    "vww": "vww_96_int8.tflite",
    "ic": "pretrainedResnet_quant.tflite",
    "ad": "ad01_int8.tflite",
}


def _mlperf_dir() -> Path:
    env = os.environ.get("TINYFLEET_MLPERF_DIR")
    return (
        Path(env)
        if env
        else Path(__file__).resolve().parent.parent.parent / "shared" / "models" / "mlperf_tiny"
    )


def _digits(console: Console) -> None:
    from tinyfleet.compiler.build import build
    from tinyfleet.compiler.spec import load_spec
    from tinyfleet.signing import init_keys, load_signing_key

    spec = load_spec(Path(__file__).resolve().parent.parent / "examples" / "digits.toml")
    with tempfile.TemporaryDirectory(prefix="tinyfleet-bench-") as tmp:
        priv, _ = init_keys(Path(tmp) / "keys")
        t0 = time.perf_counter()
        result = build(spec, Path(tmp) / "out", load_signing_key(priv))
        wall = time.perf_counter() - t0
    r = result.report
    t = Table(title=f"digits pipeline (examples/digits.toml), {wall:.1f} s wall in this process")
    t.add_column("stage")
    t.add_column("seconds", justify="right")
    for stage, secs in r["stages"].items():
        t.add_row(stage, f"{secs:.2f}")
    console.print(t)
    a = Table(title="digits: accuracy on validation data and size")
    for col in (
        "float",
        "int8 TFLM",
        "int8 LiteRT-REF",
        "ONNX int8",
        "TFLM = LiteRT-REF",
        "model B",
        "TFLM arena B",
        "package B",
    ):
        a.add_column(col, justify="right")
    acc = r["accuracy"]["runtimes"]
    a.add_row(
        f"{r['accuracy']['float']:.4f}",
        f"{acc['tflm']:.4f}",
        f"{acc['litert_ref']:.4f}",
        f"{acc.get('model_int8.onnx', float('nan')):.4f}",
        "bit-exact" if r["verify"]["bitexact"] else f"max diff {r['verify']['max_abs_diff']}",
        str(r["verify"]["model_bytes"]),
        str(r["verify"]["tflm_arena_bytes"]),
        str(r["package"]["bytes"]),
    )
    console.print(a)


def _mlperf(console: Console) -> None:
    from tinyfleet.boards import get_board
    from tinyfleet.compiler.verify import board_check, evaluate

    d = _mlperf_dir()
    board = get_board("qemu-an386")
    t = Table(title=f"MLPerf Tiny models on {board.name} (16 random int8 inputs)")
    for col in ("model", "ops", "model B", "TFLM arena B", "fits", "TFLM vs LiteRT-REF", "verify s"):
        t.add_column(col, justify="right")
    for short, fname in MODELS.items():
        path = d / "models" / fname
        if not path.is_file():
            console.print(f"[yellow]{short}: {path} absent (set TINYFLEET_MLPERF_DIR)[/yellow]")
            continue
        t0 = time.perf_counter()
        ev = evaluate(path.read_bytes(), what=fname)
        secs = time.perf_counter() - t0
        check = board_check(ev, board)
        ag = ev.report["agreement"]["litert_ref"]
        t.add_row(
            short,
            ", ".join(ev.info.ops),
            str(ev.info.size),
            str(ev.arena_bytes),
            "yes" if check["fits"] else "no",
            "bit-exact"
            if ag["bitexact"]
            else f"max {ag['max_abs_diff']} LSB, {ag['mismatches']}/{ag['values']}",
            f"{secs:.2f}",
        )
    console.print(t)


def run() -> None:
    console = Console(width=160)
    _mlperf(console)
    _digits(console)
