from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tinyfleet.compiler.carray import c_identifier, model_c, model_h

MAIN = r"""
#include <stdint.h>
#include <stdio.h>
#include "model.h"
int main(void) {
    if (((uintptr_t)digits_2_model) % 16u != 0u) return 2;
    if (digits_2_model_len != DIGITS_2_MODEL_LEN) return 3;
    fwrite(digits_2_model, 1, digits_2_model_len, stdout);
    return 0;
}
"""


def test_identifier() -> None:
    assert c_identifier("digits-2") == "digits_2" and c_identifier("9x") == "m_9x"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_c_array_compiles_aligned_and_round_trips(tmp_path: Path) -> None:
    blob = bytes(range(256)) * 3 + b"\x00\xff\x10"
    (tmp_path / "model.c").write_text(model_c("digits-2", blob))
    (tmp_path / "model.h").write_text(model_h("digits-2", len(blob)))
    (tmp_path / "main.c").write_text(MAIN)
    exe = tmp_path / "t"
    subprocess.run(
        [
            "gcc",
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-o",
            str(exe),
            str(tmp_path / "main.c"),
            str(tmp_path / "model.c"),
            f"-I{tmp_path}",
        ],
        check=True,
    )
    out = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    assert out == blob
