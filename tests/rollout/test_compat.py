from __future__ import annotations

from dataclasses import replace

import pytest
from rollout_kit import PKG

from tinyfleet.boards import get_board
from tinyfleet.errors import UsageError
from tinyfleet.server.rollout.compat import check, package_info
from tinyfleet.server.rollout.model import DeviceView

QEMU = get_board("qemu-an386")


def dev(board: str = "qemu-an386", **kw: object) -> DeviceView:
    return DeviceView("d1", board, **kw)  # type: ignore[arg-type]


def test_a_fitting_device_is_compatible() -> None:
    assert check(dev(), PKG) == ()
    assert check(dev("rpi4"), replace(PKG, ops=("RFFT2D",))) == ()


@pytest.mark.parametrize(
    "device,package,reason",
    [
        (dev("mystery"), PKG, "unknown board 'mystery'"),
        (dev("esp32dev"), PKG, "board esp32dev not among the package's boards"),
        (
            dev(),
            replace(PKG, ops=("FULLY_CONNECTED", "CUSTOM_X")),
            "ops not supported by tinyfleet-mcu: CUSTOM_X",
        ),
        (dev(runtimes=("tflm",)), replace(PKG, ops=("CUSTOM_X",)), "ops not supported by tflm: CUSTOM_X"),
        (
            dev(runtimes=("tinyfleet-mcu",)),
            replace(PKG, ops=("TANH",)),
            "ops not supported by tinyfleet-mcu: TANH",
        ),
        (dev(runtimes=("cuda",)), PKG, "unknown runtime 'cuda'"),
        (dev(), replace(PKG, ops=("SPLIT_V",)), "ops not supported by tinyfleet-mcu: SPLIT_V"),
        (dev("rpi4"), replace(PKG, ops=("CUSTOM_X",)), "ops not supported by litert: CUSTOM_X"),
        (
            dev(),
            replace(PKG, arena_bytes=QEMU.arena_budget + 1),
            f"arena {QEMU.arena_budget + 1} B > budget {QEMU.arena_budget} B",
        ),
        (dev(arena_budget=4095), PKG, "arena 4096 B > budget 4095 B"),
        (dev(), replace(PKG, flash_bytes=QEMU.model_slot_bytes + 1), "model + golden"),
        (dev(flash_budget=49_999), PKG, "model + golden 50000 B > model slot 49999 B"),
    ],
)
def test_each_reason_is_reported(device: DeviceView, package, reason: str) -> None:  # type: ignore[no-untyped-def]
    reasons = check(device, package)
    assert any(r.startswith(reason) for r in reasons), reasons


def test_budgets_exactly_at_the_limit_fit() -> None:
    assert check(dev(), replace(PKG, arena_bytes=QEMU.arena_budget, flash_bytes=QEMU.model_slot_bytes)) == ()
    assert check(dev(arena_budget=4096, flash_budget=50_000), PKG) == ()


def test_every_runtime_the_device_may_use_must_run_the_ops() -> None:
    split = replace(PKG, ops=("SPLIT_V", "FULLY_CONNECTED"))
    assert check(dev(), split) == ("ops not supported by tinyfleet-mcu: SPLIT_V",)  # board: both runtimes
    assert check(dev(runtimes=("tflm",)), split) == ()  # a device that reports TFLM alone runs it
    assert check(dev(runtimes=("tinyfleet-mcu", "tflm")), split) != ()


def test_package_info_reads_the_manifest_contract() -> None:
    manifest = {
        "name": "digits",
        "version": "1.2.3",
        "security_counter": 7,
        "boards": ["qemu-an386"],
        "requirements": {"ops": ["SOFTMAX", "FULLY_CONNECTED", "SOFTMAX"], "arena_bytes": 1234},
        "artifacts": {
            "model.tflite": {"size": 1000, "sha256": "0" * 64},
            "golden.bin": {"size": 200, "sha256": "1" * 64},
        },
    }
    info = package_info(manifest, "e" * 64)
    assert (
        info.ops == ("FULLY_CONNECTED", "SOFTMAX") and info.flash_bytes == 1200 and info.security_counter == 7
    )
    manifest["requirements"]["flash_bytes"] = 1300  # type: ignore[index]
    assert package_info(manifest, "e" * 64).flash_bytes == 1300
    with pytest.raises(UsageError, match="no requirements"):
        package_info({"name": "x"}, "e" * 64)
