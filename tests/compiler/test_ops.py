from __future__ import annotations

from pathlib import Path

from tinyfleet.compiler.ops import _MCU_OPS_COPY, OPS_TXT, TINYFLEET_MCU_OPS, read_ops_txt, unsupported_ops


def test_mcu_ops_follow_the_firmware_list() -> None:
    listed = read_ops_txt(OPS_TXT)
    assert listed is not None, f"{OPS_TXT} is missing"
    assert TINYFLEET_MCU_OPS == listed == _MCU_OPS_COPY


def test_read_ops_txt(tmp_path: Path) -> None:
    p = tmp_path / "ops.txt"
    p.write_text("# comment\nADD\n\n  CONV_2D \n")
    assert read_ops_txt(p) == {"ADD", "CONV_2D"}
    assert read_ops_txt(tmp_path / "absent.txt") is None


def test_unsupported_per_runtime() -> None:
    ops = ["CONV_2D", "TANH", "CUSTOM:foo", "SOFTMAX"]
    assert unsupported_ops(ops, ["tinyfleet-mcu", "tflm"]) == {
        "tinyfleet-mcu": ["CUSTOM:foo", "TANH"],
        "tflm": ["CUSTOM:foo"],
    }
    assert unsupported_ops(ops, ["litert"]) == {"litert": ["CUSTOM:foo"]}
