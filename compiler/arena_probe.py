"""Child process for the TFLM arena bisection (``python -m tinyfleet.compiler.arena_probe MODEL LO HI``).

TFLM's Python interpreter can crash (segfault) on some allocation-failure paths when the arena is
too small, so the parent runs the probes here: each probe prints ``try N`` before and ``ok N`` or
``fail N`` after. A crash after ``try N`` tells the parent that N is too small; it restarts the
child with the narrowed range. Invariant: LO fails (or is 0), HI works.
"""

from __future__ import annotations

import os
import sys

ALIGN = 16


def _works(blob: bytes, arena: int) -> bool:
    from tflite_micro import runtime

    try:
        runtime.Interpreter.from_bytes(blob, arena_size=arena)
    except (RuntimeError, ValueError):
        return False
    return True


def bisect(blob: bytes, lo: int, hi: int, emit: object = print) -> int:
    while hi - lo > ALIGN:
        mid = (lo + hi) // 2 // ALIGN * ALIGN
        if mid <= lo:
            break
        emit(f"try {mid}")  # type: ignore[operator]
        if _works(blob, mid):
            emit(f"ok {mid}")  # type: ignore[operator]
            hi = mid
        else:
            emit(f"fail {mid}")  # type: ignore[operator]
            lo = mid
    return hi


def main(argv: list[str]) -> int:
    path, lo, hi = argv[0], int(argv[1]), int(argv[2])
    with open(path, "rb") as fh:
        blob = fh.read()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # TFLM reports allocation failures on stderr

    def emit(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    if argv[3:] == ["--check-hi"]:
        emit(f"try {hi}")
        emit(f"{'ok' if _works(blob, hi) else 'fail'} {hi}")
        return 0
    emit(f"done {bisect(blob, lo, hi, emit)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
