"""Regenerate the firmware's generated operator files. ``--check`` exits 1 when one is stale.

- ``src/op_names.c``: BuiltinOperator code -> name, from the TFLite schema shipped in the
  tflite-micro package (names an unsupported operator in ``tfrt_unsupported_op()``);
- ``src/op_list.h``: the operators the micro runtime registers, from the runtime catalogue
  (``tinyfleet/runtimes.toml``, runtime ``tinyfleet-mcu``) with their schema codes. ``ops.c``
  builds its table from these macros and asserts it has exactly ``TFRT_OP_COUNT`` entries.

    python firmware/runtime/tools/gen_op_names.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from tinyfleet.catalogue import get_runtime

SRC = Path(__file__).resolve().parents[1] / "src"
NAMES_HEADER = """/* op_names.c — BuiltinOperator names by code (facts from the TFLite schema), used to name an
 * unsupported operator in tfrt_unsupported_op(). Generated from the schema's enum; regenerate
 * with firmware/runtime/tools/gen_op_names.py when the schema grows. */
#include "op_names.h"

static const char *const k_names[] = {
"""
NAMES_FOOTER = """};

const char *tfrt_builtin_name(int32_t code) {
    if (code < 0 || code >= (int32_t)(sizeof k_names / sizeof k_names[0])) return "";
    return k_names[code];
}
"""
LIST_HEADER = """/* op_list.h — the operators the micro runtime registers: GENERATED from the runtime catalogue
 * (tinyfleet/runtimes.toml, runtime tinyfleet-mcu) and the TFLite schema's codes by
 * firmware/runtime/tools/gen_op_names.py. Do not edit: change the catalogue and regenerate.
 * ops.c names each table entry with TFRT_OP(NAME), so an operator missing here does not compile. */
#ifndef TFRT_OP_LIST_H
#define TFRT_OP_LIST_H

"""
LIST_FOOTER = """
/* BuiltinOperator code and name of an operator of the list, for a tfrt_op_reg initializer. */
#define TFRT_OP(name) TFRT_BUILTIN_##name, #name

#endif /* TFRT_OP_LIST_H */
"""


def _codes() -> dict[str, int]:
    return {k: v for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and v >= 0}


def render_names() -> str:
    names = {v: k for k, v in _codes().items()}
    rows = "".join(f'    "{names.get(i, "")}",\n' for i in range(max(names) + 1))
    return NAMES_HEADER + rows + NAMES_FOOTER


def render_list() -> str:
    ops = get_runtime("tinyfleet-mcu").ops
    if ops is None:
        raise SystemExit("runtimes.toml: tinyfleet-mcu must list its operators")
    codes = _codes()
    unknown = sorted(op for op in ops if op not in codes)
    if unknown:
        raise SystemExit(f"runtimes.toml: not TFLite builtin operators: {', '.join(unknown)}")
    names = sorted(ops)
    width = max(len(n) for n in names)
    body = f"#define TFRT_OP_COUNT {len(names)}\n"
    body += f'#define TFRT_SUPPORTED_OPS "{",".join(names)}"\n\n'
    body += "".join(f"#define TFRT_BUILTIN_{n:<{width}} {codes[n]}\n" for n in names)
    return LIST_HEADER + body + LIST_FOOTER


TARGETS = {"op_names.c": render_names, "op_list.h": render_list}


def main(argv: list[str]) -> int:
    stale = []
    for name, render in TARGETS.items():
        target, text = SRC / name, render()
        if argv == ["--check"]:
            if not target.is_file() or target.read_text() != text:
                stale.append(name)
            continue
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(target)
    if stale:
        print(f"{', '.join(stale)} stale: run {Path(__file__).name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
