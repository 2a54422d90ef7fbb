"""`tinyfleet firmware flash --board qemu-an386|qemu-an500`: boots the image in QEMU and prints the UART address."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinyfleet.hil.plugin import open_serial

pytestmark = pytest.mark.qemu


def _firmware_dir(hil_firmware: Path, tmp_path: Path, board: str) -> Path:
    build = tmp_path / "build" / board
    build.mkdir(parents=True)
    (build / "firmware.elf").write_bytes(hil_firmware.read_bytes())
    return tmp_path / "build"


def test_flash_detached_boots_and_prints_url(hil_firmware: Path, hil_board_name: str, tmp_path: Path) -> None:
    build_dir = _firmware_dir(hil_firmware, tmp_path, hil_board_name)
    pidfile = tmp_path / "qemu.pid"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "firmware",
            "flash",
            "--board",
            hil_board_name,
            "--build-dir",
            str(build_dir),
            "--workdir",
            str(tmp_path / "board"),
            "--device-id",
            "demo-3",
            "--detach",
            "--pidfile",
            str(pidfile),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"socket://127\.0\.0\.1:\d+", url)
    pid = int(pidfile.read_text())
    try:
        ser = open_serial(url, timeout=5)
        banner = ser.read_until(b"flash=file\r\n")
        assert f"tinyfleet {hil_board_name} id=demo-3 flash=file".encode() in banner
        ser.close()
        assert (tmp_path / "board" / "tfflash.bin").stat().st_size > 0
    finally:
        os.kill(pid, signal.SIGKILL)


def test_flash_foreground_stops_on_ctrl_c(hil_firmware: Path, hil_board_name: str, tmp_path: Path) -> None:
    build_dir = _firmware_dir(hil_firmware, tmp_path, hil_board_name)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "firmware",
            "flash",
            "--board",
            hil_board_name,
            "--build-dir",
            str(build_dir),
            "--workdir",
            str(tmp_path / "board"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = ""
        deadline = time.monotonic() + 60
        while not line.startswith("socket://") and time.monotonic() < deadline:
            line = proc.stdout.readline().strip()
        assert line.startswith("socket://127.0.0.1:")
        ser = open_serial(line, timeout=5)
        assert f"tinyfleet {hil_board_name}".encode() in ser.read_until(b"flash=file\r\n")
        ser.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_flash_without_image_is_a_clear_error(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "firmware",
            "flash",
            "--board",
            "qemu-an386",
            "--build-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("error: no firmware at") and "tinyfleet firmware build" in r.stderr


def test_flash_with_model_installs_it_over_ota(
    hil_firmware: Path, hil_board_name: str, tmp_path: Path, digits_package
) -> None:
    from tinyfleet.hil.device import BoardLink

    build_dir = _firmware_dir(hil_firmware, tmp_path, hil_board_name)
    pidfile = tmp_path / "qemu.pid"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "firmware",
            "flash",
            "--board",
            hil_board_name,
            "--build-dir",
            str(build_dir),
            "--workdir",
            str(tmp_path / "board"),
            "--model",
            str(digits_package.package_path),
            "--detach",
            "--pidfile",
            str(pidfile),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "model installed: digits 1.0.0" in r.stdout
    url = r.stdout.strip().splitlines()[-1]
    try:
        with BoardLink.open(url) as link:
            info = link.wait_ready()
            assert (info.model_name, info.model_version_str) == ("digits", "1.0.0") and not info.on_trial
    finally:
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
