"""Regenerate firmware/runtime/src/op_names.c (BuiltinOperator code -> name) from the TFLite
schema shipped in the tflite-micro package. ``--check`` exits 1 when the file is stale.

    python firmware/runtime/tools/gen_op_names.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

TARGET = Path(__file__).resolve().parents[1] / "src" / "op_names.c"
HEADER = """/* op_names.c — BuiltinOperator names by code (facts from the TFLite schema), used to name an
 * unsupported operator in tfrt_unsupported_op(). Generated from the schema's enum; regenerate
 * with firmware/runtime/tools/gen_op_names.py when the schema grows. */
#include "op_names.h"

static const char *const k_names[] = {
"""
FOOTER = """};

const char *tfrt_builtin_name(int32_t code) {
    if (code < 0 || code >= (int32_t)(sizeof k_names / sizeof k_names[0])) return "";
    return k_names[code];
}
"""


def render() -> str:
    codes = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and v >= 0}
    rows = "".join(f'    "{codes.get(i, "")}",\n' for i in range(max(codes) + 1))
    return HEADER + rows + FOOTER


def main(argv: list[str]) -> int:
    text = render()
    if argv == ["--check"]:
        if TARGET.read_text() != text:
            print(f"{TARGET} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    tmp = TARGET.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
