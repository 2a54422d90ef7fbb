"""The emulated board: QEMU `mps2-an386` running the firmware, its UART on a local TCP port.

Flash persistence: the firmware's model store mirrors ``tfflash.bin`` in the board's working
directory (firmware/ports/qemu-an386/flash.c): QEMU loads it at boot (``-device loader``), the
firmware re-reads it after every guest reset and writes every erase/program through to it with
semihosting. `kill()` is a power cut (SIGKILL: whatever was written stays written); `restart()`
boots the same firmware on the same flash file.

Timing: ``-icount shift=6,sleep=off`` makes every instruction take 2^6 ns of virtual time, so
SysTick (25 MHz, 40 ns) counts instructions: instructions = ticks × 40 / 2^shift.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tinyfleet.errors import DeviceError, UsageError
from tinyfleet.hil.layout import FlashLayout, flash_layout
from tinyfleet.netutil import free_port

__all__ = ["FLASH_FILE", "ICOUNT_SHIFT", "QEMU_MACHINES", "QemuBoard", "free_port", "instructions_from_ticks"]

FLASH_FILE = "tfflash.bin"
# the QEMU machine of each emulated board (one port, firmware/ports/qemu-an386, serves both)
QEMU_MACHINES = {"qemu-an386": "mps2-an386", "qemu-an500": "mps2-an500"}
ICOUNT_SHIFT = 6
SYSTICK_NS = 40  # MPS2 SysTick runs at 25 MHz


def instructions_from_ticks(ticks: int, shift: int = ICOUNT_SHIFT) -> float:
    return ticks * SYSTICK_NS / (1 << shift)


def _listening(port: int) -> bool:
    """Is something listening on 127.0.0.1:port? Read from /proc so the guest's first client is the
    real one (QEMU starts the guest on the first connection; a probe would swallow the banner)."""
    try:
        table = Path("/proc/net/tcp").read_text()
    except OSError:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        return False
    want = f":{port:04X}"
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1].endswith(want) and fields[3] == "0A":
            return True
    return False


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent dies (Linux PR_SET_PDEATHSIG)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


def qemu_binary() -> str:
    exe = shutil.which("qemu-system-arm")
    if exe is None:
        raise UsageError("qemu-system-arm not found: install Debian's qemu-system-arm")
    return exe


class QemuBoard:
    """One emulated board: a firmware ELF, a working directory with its flash file, a QEMU process."""

    def __init__(
        self,
        elf: Path,
        workdir: Path,
        board: str = "qemu-an386",
        device_id: str | None = None,
        shift: int = ICOUNT_SHIFT,
    ) -> None:
        self.elf = Path(elf).resolve()
        self.workdir = Path(workdir).resolve()
        self.layout: FlashLayout = flash_layout(board)
        self.device_id = device_id
        self.shift = shift
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        if not self.elf.is_file():
            raise UsageError(f"firmware image {self.elf} not found (run `tinyfleet firmware build` first)")

    @property
    def flash_path(self) -> Path:
        return self.workdir / FLASH_FILE

    @property
    def url(self) -> str:
        if self.port is None:
            raise DeviceError("the emulated board is not running")
        return f"socket://127.0.0.1:{self.port}"

    def ensure_flash(self) -> None:
        """An erased flash file of the model-store size (an existing one of the right size stays)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        size = self.layout.store_bytes
        if self.flash_path.is_file() and self.flash_path.stat().st_size == size:
            return
        tmp = self.flash_path.with_suffix(".tmp")
        tmp.write_bytes(b"\xff" * size)
        os.replace(tmp, self.flash_path)

    def write_flash(self, offset: int, data: bytes) -> None:
        """Patch the flash file while the board is off (tests: corrupt a slot, as a glitch would)."""
        if self.running:
            raise DeviceError("write_flash needs the board powered off")
        self.ensure_flash()
        with open(self.flash_path, "r+b") as fh:
            fh.seek(offset)
            fh.write(data)

    def read_flash(self) -> bytes:
        return self.flash_path.read_bytes()

    def command(self, port: int) -> list[str]:
        cmd = [
            qemu_binary(),
            "-M",
            QEMU_MACHINES[self.layout.board],
            "-nographic",
            "-monitor",
            "none",
            "-icount",
            f"shift={self.shift},sleep=off",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
            str(self.elf),
            "-device",
            f"loader,file={FLASH_FILE},addr=0x{self.layout.store_base:x},force-raw=on",
            "-serial",
            f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
        ]
        if self.device_id:
            cmd += ["-append", f"tfid={self.device_id}"]
        return cmd

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 10.0, survive_parent: bool = False) -> str:
        """Start QEMU; returns the UART URL. The guest boots when the first client connects, so
        that client sees everything from the boot banner on. Unless ``survive_parent`` (a detached
        demo board), QEMU is killed when this process dies, so a killed test run leaves none behind."""
        if self.running:
            return self.url
        self.ensure_flash()
        last = ""
        for _ in range(5):
            port = free_port()
            proc = subprocess.Popen(
                self.command(port),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=None if survive_parent else _die_with_parent,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None and not _listening(port):
                time.sleep(0.01)
            if proc.poll() is None:
                self.proc, self.port = proc, port
                return self.url
            last = (proc.stderr.read().decode(errors="replace") if proc.stderr else "").strip()
            if "Address already in use" not in last and "available port" not in last:
                break
        raise DeviceError(f"QEMU did not start: {last.splitlines()[-1] if last else 'no output'}")

    def kill(self) -> None:
        """Power cut: SIGKILL, nothing gets flushed by the guest."""
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            if self.proc.stderr:
                self.proc.stderr.close()
        self.proc, self.port = None, None

    def restart(self) -> str:
        self.kill()
        return self.start()

    def __enter__(self) -> QemuBoard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
