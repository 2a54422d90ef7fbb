"""pytest plugin for hardware-in-the-loop tests: the same tests on the emulated board or a real one.

    pytest hil/tests                                    # QEMU mps2-an386, firmware built for the session
    pytest hil/tests --hil-port /dev/ttyACM0 --hil-board nano33ble --hil-signing-key KEY.pem
    pytest hil/tests --hil-junit results/hil.xml        # JUnit XML (same as --junitxml)

Fixtures:
  ``hil_signing_key``  the Ed25519 key model packages are signed with. Emulated: the key of the
                       session's digits package (root conftest), and the firmware is built to trust it. Real: --hil-signing-key
                       (default: the user's signing key), which the board's firmware must trust.
  ``hil_firmware``     emulated only: the firmware ELF built for the session (PlatformIO, offline).
  ``board``            a fresh board per test: ``HilBoard`` with ``url`` (pyserial URL), and on
                       the emulated board a blank flash file and power control (``power_cut``,
                       ``power_on``). Tests that need power control call ``board.require_power_control()``,
                       which skips on a real board (it cannot be power-cycled from here).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.hil.qemu import QemuBoard
from tinyfleet.signing import load_signing_key, public_key_raw

__all__ = ["HilBoard", "open_serial"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware-in-the-loop boards")
    group.addoption(
        "--hil-port", default=None, help="serial port of a real board (default: the emulated board)"
    )
    group.addoption(
        "--hil-board",
        default="qemu-an386,qemu-an500",
        help="board name(s) from tinyfleet/boards.toml, comma-separated: every HIL test runs on each "
        "(default: the emulated Cortex-M4F and Cortex-M7)",
    )
    group.addoption(
        "--hil-signing-key",
        default=None,
        help="real board: PEM key its firmware trusts (default: $TINYFLEET_KEYS/tinyfleet-signing.key)",
    )
    group.addoption(
        "--hil-junit",
        default=os.environ.get("TINYFLEET_HIL_JUNIT"),
        help="write JUnit XML results here (same as --junitxml; env TINYFLEET_HIL_JUNIT)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    junit = config.getoption("--hil-junit", default=None)
    if junit and not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = junit  # picked up by pytest's junitxml plugin, which configures later
    config.addinivalue_line("markers", "qemu: boots the emulated board")


def open_serial(url: str, timeout: float = 5.0) -> Any:
    """pyserial for a URL (`socket://host:port` or a device path), with TCP_NODELAY on sockets."""
    import serial

    ser = serial.serial_for_url(url, timeout=timeout, baudrate=115200)
    sock = getattr(ser, "_socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ser


class HilBoard:
    """A board under test: its serial URL and, when emulated, its power switch and flash file."""

    def __init__(self, name: str, url: str | None = None, qemu: QemuBoard | None = None) -> None:
        self.name = name
        self._url = url
        self.qemu = qemu

    @property
    def emulated(self) -> bool:
        return self.qemu is not None

    @property
    def url(self) -> str:
        if self.qemu is not None:
            return self.qemu.url
        assert self._url is not None
        return self._url

    def require_power_control(self) -> QemuBoard:
        if self.qemu is None:
            pytest.skip("needs power control: only the emulated board can be power-cut from a test")
        return self.qemu

    def power_cut(self) -> None:
        self.require_power_control().kill()

    def power_on(self) -> str:
        return self.require_power_control().start()

    def serial(self, timeout: float = 5.0) -> Any:
        return open_serial(self.url, timeout)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses the board runs once per board of --hil-board (a real board: the one)."""
    if "hil_board_name" in metafunc.fixturenames:
        names = [n.strip() for n in str(metafunc.config.getoption("--hil-board")).split(",") if n.strip()]
        if metafunc.config.getoption("--hil-port"):
            names = names[:1]
        metafunc.parametrize("hil_board_name", names, scope="session", ids=names)


@pytest.fixture(scope="session")
def hil_signing_key(pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> Ed25519PrivateKey:
    if pytestconfig.getoption("--hil-port"):
        path = pytestconfig.getoption("--hil-signing-key")
        return load_signing_key(Path(path) if path else None)
    # The emulated board trusts the session's digits package key, so the compiler's real package
    # and the packages the tests make are all installable.
    key: Ed25519PrivateKey = request.getfixturevalue("digits_package").signing_key
    return key


@pytest.fixture(scope="session")
def hil_firmware(
    pytestconfig: pytest.Config,
    hil_signing_key: Ed25519PrivateKey,
    hil_board_name: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    if pytestconfig.getoption("--hil-port"):
        pytest.skip("a real board runs the firmware it was flashed with")
    from tinyfleet.hil.pio import build

    # one shared, incremental build folder (only the generated key header changes between sessions);
    # the image is copied into this session's folder under the build lock
    result = build(
        hil_board_name,
        hil_build_dir(),
        public_raw(hil_signing_key),
        "hil-board",
        copy_to=tmp_path_factory.mktemp("hil-firmware"),
    )
    return result.elf


def hil_build_dir() -> Path:
    from tinyfleet.hil.pio import repo_root

    return repo_root() / ".cache" / "tinyfleet-hil" / "session-build"


def public_raw(key: Ed25519PrivateKey) -> bytes:
    return public_key_raw(key)


@pytest.fixture
def board(
    pytestconfig: pytest.Config, request: pytest.FixtureRequest, hil_board_name: str, tmp_path: Path
) -> Iterator[HilBoard]:
    port = pytestconfig.getoption("--hil-port")
    if port:
        yield HilBoard(hil_board_name, url=str(port))
        return
    elf = request.getfixturevalue("hil_firmware")
    qb = QemuBoard(elf, tmp_path / "board", hil_board_name, device_id="hil-board")
    qb.start()
    try:
        yield HilBoard(hil_board_name, qemu=qb)
    finally:
        qb.kill()
