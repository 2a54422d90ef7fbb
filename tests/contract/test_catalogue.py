"""The runtime catalogue (tinyfleet/runtimes.toml) against the runtimes themselves and its readers."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path

import pytest
from op_probe import builtin_names, registered_ops

from tinyfleet.boards import all_boards
from tinyfleet.catalogue import all_runtimes, get_runtime, op_tables, ops_verdict
from tinyfleet.errors import UsageError

REPO = Path(__file__).resolve().parents[2]


def test_tflm_list_is_what_the_tflm_resolver_registers() -> None:
    from tflite_micro import runtime

    found = registered_ops(lambda blob: runtime.Interpreter.from_bytes(blob, arena_size=16384))
    assert get_runtime("tflm").ops == found


def test_litert_list_is_what_the_agent_resolver_registers() -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES  # as device_agent/runtimes.py loads it

    found = registered_ops(
        lambda blob: Interpreter(model_content=blob, experimental_op_resolver_type=resolver)
    )
    assert get_runtime("litert").ops == found


class _OpReg(ctypes.Structure):  # tfrt_op_reg of firmware/runtime/src/kernels.h
    _fields_ = [
        ("builtin", ctypes.c_int32),
        ("name", ctypes.c_char_p),
        ("prepare", ctypes.c_void_p),
        ("init", ctypes.c_void_p),
        ("eval", ctypes.c_void_p),
        ("min_inputs", ctypes.c_uint8),
        ("max_inputs", ctypes.c_uint8),
        ("alias", ctypes.c_uint8),
    ]


def test_mcu_list_is_the_firmware_registered_table() -> None:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    from tinyfleet.hil.host_runtime import build_library, supported_ops

    lib = ctypes.CDLL(str(build_library()))
    mcu = get_runtime("tinyfleet-mcu").ops
    assert mcu is not None
    # the table has K_COUNT = 1 + len(catalogue) entries (ops.c asserts it at compile time); slot 0 is empty
    table = (_OpReg * (len(mcu) + 1)).in_dll(lib, "tfrt_ops")
    assert table[0].name is None and table[0].eval is None
    registered = {(r.name or b"").decode(): r.builtin for r in table[1:]}
    assert all(r.eval and r.prepare for r in table[1:])
    codes = vars(schema.BuiltinOperator)
    assert registered == {op: codes[op] for op in mcu}
    assert sorted(supported_ops()) == sorted(mcu)


def test_generated_firmware_op_files_are_current() -> None:
    script = REPO / "firmware" / "runtime" / "tools" / "gen_op_names.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_listed_op_is_a_builtin_and_every_board_runtime_is_known() -> None:
    builtins = set(builtin_names())
    for rt in all_runtimes().values():
        assert rt.ops is None or rt.ops <= builtins, rt.name
    for board in all_boards().values():
        assert board.runtimes and set(board.runtimes) <= set(all_runtimes()), board.name
        assert {get_runtime(r).kind for r in board.runtimes} == {board.kind}, board.name
    assert (get_runtime("tinyfleet-mcu").ops or set()) < (get_runtime("tflm").ops or set())


def test_every_runtime_of_the_list_must_run_every_op() -> None:
    v = ops_verdict(["CONV_2D", "TANH", "SOFTMAX"], ["tinyfleet-mcu", "tflm"])
    assert not v.runs and v.unsupported_by == {"tinyfleet-mcu": ("TANH",), "tflm": ()}
    assert v.unsupported_ops == ("TANH",) and v.reasons() == ("ops not supported by tinyfleet-mcu: TANH",)
    assert ops_verdict(["CONV_2D", "TANH"], ["tflm"]).runs
    assert ops_verdict(["SPLIT_V"], ["litert", "onnxruntime"]).runs  # onnxruntime: any operator
    assert ops_verdict(["CUSTOM:foo"], ["onnxruntime"]).runs
    assert not ops_verdict(["CUSTOM:foo"], ["litert", "onnxruntime"]).runs


def test_unknown_or_no_runtime_runs_nothing() -> None:
    v = ops_verdict(["ADD"], ["cuda", "tflm"])
    assert not v.runs and v.reasons() == ("unknown runtime 'cuda'",)
    assert ops_verdict(["ADD"], []).reasons() == ("no runtime",)
    assert ops_verdict(["ADD"], ["x"], {"x": frozenset({"ADD"})}).runs
    with pytest.raises(UsageError, match="unknown runtime 'cuda'; known runtimes: litert"):
        get_runtime("cuda")


def test_op_tables_follow_the_catalogue() -> None:
    assert op_tables() == {name: rt.ops for name, rt in all_runtimes().items()}
    assert op_tables()["onnxruntime"] is None
