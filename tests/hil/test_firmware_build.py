"""`tinyfleet firmware build` through PlatformIO, offline: budgets, the embedded key, clear failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tinyfleet.boards import get_board
from tinyfleet.hil.layout import flash_layout
from tinyfleet.signing import read_public_key_file

pytestmark = pytest.mark.slow


def tinyfleet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "tinyfleet.cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
        check=False,
    )


def test_layout_matches_board_catalogue() -> None:
    layout = flash_layout("qemu-an386")
    board = get_board("qemu-an386")
    assert layout.store_base + layout.store_bytes == board.flash_bytes
    assert layout.slot_bytes == board.model_slot_bytes
    # the 128 KiB firmware budget holds the image and the two slot-state sectors
    assert layout.firmware_bytes + layout.state_sectors * layout.sector_bytes == board.firmware_flash_budget


def cached_build_dir(name: str) -> Path:
    """A persistent build folder under .cache/, so later runs rebuild incrementally (PlatformIO
    full builds are the slow part of these tests)."""
    from tinyfleet.hil.pio import repo_root

    return repo_root() / ".cache" / "tinyfleet-hil" / name


def test_build_embeds_key_and_reports_budget(digits_package, hil_firmware: Path) -> None:
    # the same key, device id and folder as the session's HIL firmware: PlatformIO has nothing to redo
    build_dir = cached_build_dir("session-build")
    r = tinyfleet(
        "firmware",
        "build",
        "--board",
        "qemu-an386",
        "--pubkey",
        str(digits_package.public_key_path),
        "--device-id",
        "hil-board",
        "--build-dir",
        str(build_dir),
    )
    assert r.returncode == 0, r.stderr
    assert "Flash:" in r.stdout and "/ 122880 bytes" in r.stdout
    assert "RAM:" in r.stdout and "/ 262144 bytes" in r.stdout
    image = (build_dir / "qemu-an386" / "firmware.bin").read_bytes()
    assert read_public_key_file(digits_package.public_key_path) in image
    assert b"hil-board\0" in image
    assert len(image) <= flash_layout("qemu-an386").firmware_bytes
    # the linker placed the model store where the flash file is loaded
    nm = subprocess.run(
        ["arm-none-eabi-nm", str(build_dir / "qemu-an386" / "firmware.elf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    store = [int(line.split()[0], 16) for line in nm.splitlines() if line.endswith(" __tf_store_start")]
    assert store == [flash_layout("qemu-an386").store_base]


@pytest.mark.parametrize(
    ("symbol", "region"), [("__tf_fw_size=2048", "flash"), ("__tf_ram_size=8192", "RAM")]
)
def test_over_budget_fails_with_one_line(symbol: str, region: str) -> None:
    # The board port alone (a few KiB, so the test builds in seconds) against a budget shrunk at
    # link time: the linker script turns the budget into MEMORY regions, so the link must fail.
    r = tinyfleet(
        "firmware",
        "build",
        "--board",
        "qemu-an386",
        "--no-pubkey",
        "--build-dir",
        str(cached_build_dir(f"overbudget-{region}")),
        env={
            "PLATFORMIO_BUILD_SRC_FILTER": "-<*> +<ports/qemu-an386/>",
            "PLATFORMIO_BUILD_FLAGS": f"-Wl,--defsym={symbol}",
        },
    )
    assert r.returncode == 3, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: firmware for qemu-an386 does not fit: {region} budget overflowed by")
    assert "Traceback" not in r.stderr


def test_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    r = tinyfleet(
        "firmware",
        "build",
        "--board",
        "qemu-an386",
        "--build-dir",
        str(tmp_path),
        env={"TINYFLEET_KEYS": str(tmp_path / "nokeys")},
    )
    assert r.returncode == 2
    assert r.stderr.startswith("error: no public key at") and "tinyfleet keys init" in r.stderr


@pytest.mark.parametrize("board", ["nano33ble", "esp32dev"])
def test_real_board_without_registry_platform_fails_fast(tmp_path: Path, board: str) -> None:
    core = tmp_path / "pio-core"
    r = tinyfleet(
        "firmware",
        "flash",
        "--board",
        board,
        "--port",
        "/dev/ttyACM0",
        "--build-dir",
        str(tmp_path),
        env={"PLATFORMIO_CORE_DIR": str(core)},
    )
    assert r.returncode != 0
    assert r.stderr.startswith("error: PlatformIO platform") and "not installed" in r.stderr
