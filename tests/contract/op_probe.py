"""Which TFLite builtin operators an interpreter's op resolver registers, asked of the runtime itself.

For every builtin code of the TFLite schema, a one-operator model is loaded in a forked child
(a kernel may crash on the nonsense shapes of the probe model; only the op lookup matters). Both
TFLM and LiteRT resolve every operator before any kernel runs, and say "Didn't find op for builtin
opcode" when the resolver lacks it; any other outcome (error, crash, success) means registered.
"""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "firmware" / "runtime" / "tools"))

import synth_tflite as synth  # noqa: E402
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema  # noqa: E402

NOT_OPERATORS = {"CUSTOM", "DELEGATE", "PLACEHOLDER_FOR_GREATER_OP_CODES"}
NOT_FOUND = b"Didn't find op for builtin opcode"


def builtin_names() -> list[str]:
    names = [k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and v >= 0]
    return sorted(set(names) - NOT_OPERATORS)


def _child_output(load: Callable[[bytes], object], blob: bytes) -> bytes:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what the loader printed or raised, then leave without cleanup
        faulthandler.disable()  # a crash of the probe's kernel is an expected outcome, not a report
        os.close(r)
        os.dup2(w, 1)
        os.dup2(w, 2)
        try:
            load(blob)
        except Exception as exc:  # noqa: BLE001 - any refusal is reported through the pipe
            os.write(w, str(exc).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    return b"".join(chunks)


def registered_ops(load: Callable[[bytes], object]) -> frozenset[str]:
    """The builtin operators ``load`` (model bytes -> interpreter) finds a kernel for."""
    found = set()
    for name in builtin_names():
        blob = synth.single_op_model(name, [synth.Q((1, 4))], synth.Q((1, 4)))
        if NOT_FOUND not in _child_output(load, blob):
            found.add(name)
    return frozenset(found)
