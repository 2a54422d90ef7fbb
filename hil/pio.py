"""PlatformIO, offline: the project-local core dir, the local dev-platform and the firmware build.

PlatformIO's registry is unreachable from here, so `ensure_core()` prepares what `pio run` would
otherwise download, inside a project-local ``PLATFORMIO_CORE_DIR`` (``.cache/platformio``,
git-ignored):

* ``packages/tool-scons`` — SCons from PyPI (already in the venv) registered as PlatformIO's
  core package: a package.json, a ``.piopm`` owned by ``platformio`` and a ``scons.py`` that
  starts ``SCons.Script.main``;
* ``tinyfleet-toolchain-arm`` — Debian's arm-none-eabi tools wrapped as a package
  (package.json + ``bin/`` links), which ``firmware/platformio.ini`` names through
  ``platform_packages = toolchain-gccarmnoneeabi@symlink://...``.

`build()` runs ``pio run`` into a chosen build directory (so several builds — a test session and
a user — never share one), after writing ``tf_build_config.h`` (the OTA public key and the
device id) for the firmware to include.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tinyfleet.boards import Board, get_board
from tinyfleet.errors import BudgetError, DeviceError, UsageError
from tinyfleet.fsutil import atomic_write_text

__all__ = [
    "REAL_BOARDS",
    "BuildResult",
    "build",
    "core_dir",
    "ensure_core",
    "firmware_dir",
    "pio_env",
    "render_build_config",
    "upload",
]

EMULATED_BOARDS = ("qemu-an386", "qemu-an500")
REAL_BOARDS = ("nano33ble", "esp32dev")
# PlatformIO 6.2 asks for tool-scons "~4.41101.0" (SCons 4.11.1, the version in requirements/lock.txt).
SCONS_PACKAGE_VERSION = "4.41101.0"
TOOLCHAIN_DIRNAME = "tinyfleet-toolchain-arm"
ARM_TOOLS = (
    "gcc",
    "g++",
    "cpp",
    "as",
    "ld",
    "ar",
    "ranlib",
    "objcopy",
    "objdump",
    "size",
    "nm",
    "strip",
    "gdb",
)
_DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,31}\Z")


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def firmware_dir() -> Path:
    return repo_root() / "firmware"


def core_dir() -> Path:
    env = os.environ.get("PLATFORMIO_CORE_DIR")
    return Path(env) if env else repo_root() / ".cache" / "platformio"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_json(path: Path, data: object) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def _ensure_scons(core: Path) -> None:
    pkg = core / "packages" / "tool-scons"
    if (pkg / "scons.py").is_file() and (pkg / ".piopm").is_file():
        return
    try:
        import SCons  # noqa: F401  (proves scons is installed in this interpreter)
    except ImportError:
        raise UsageError("scons is not installed in this Python environment (pip install scons)") from None
    _write_json(
        pkg / "package.json",
        {
            "name": "tool-scons",
            "version": SCONS_PACKAGE_VERSION,
            "description": "SCons from PyPI, registered for PlatformIO by tinyfleet",
            "system": "*",
        },
    )
    atomic_write_text(
        pkg / "scons.py",
        (
            "# SCons from PyPI, started the way PlatformIO starts its tool-scons package.\n"
            'import sys\n\nimport SCons.Script\n\nif __name__ == "__main__":\n    sys.exit(SCons.Script.main())\n'
        ),
    )
    _write_json(
        pkg / ".piopm",
        {
            "type": "tool",
            "name": "tool-scons",
            "version": SCONS_PACKAGE_VERSION,
            "spec": {
                "owner": "platformio",
                "id": None,
                "name": "tool-scons",
                "requirements": None,
                "uri": None,
            },
        },
    )


def _ensure_toolchain(core: Path) -> Path:
    pkg = core / TOOLCHAIN_DIRNAME
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        raise UsageError(
            "arm-none-eabi-gcc not found: install Debian's gcc-arm-none-eabi and libnewlib-arm-none-eabi"
        )
    version = subprocess.run(
        [gcc, "-dumpversion"], capture_output=True, text=True, check=False
    ).stdout.strip()
    major, minor, patch = ([int(p) for p in re.findall(r"\d+", version)] + [0, 0, 0])[:3]
    bindir = pkg / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for tool in ARM_TOOLS:
        src = shutil.which(f"arm-none-eabi-{tool}")
        link = bindir / f"arm-none-eabi-{tool}"
        if src and not link.exists():
            with contextlib.suppress(FileExistsError):
                link.symlink_to(src)
    _write_json(
        pkg / "package.json",
        {
            "name": "toolchain-gccarmnoneeabi",
            "version": f"1.{major}{minor:02d}{patch:02d}.0",
            "description": f"Debian's GNU Arm Embedded toolchain {version} (links)",
            "system": "*",
        },
    )
    return pkg


def ensure_core() -> Path:
    """Prepare the project-local PlatformIO core dir (idempotent, safe to run concurrently)."""
    core = core_dir()
    with _locked(core / ".tinyfleet-setup.lock"):
        _ensure_scons(core)
        _ensure_toolchain(core)
    return core


def pio_env(core: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PLATFORMIO_CORE_DIR": str(core),
            "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "no",
            "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "3650",
            "PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD": "0",
            "PLATFORMIO_NO_ANSI": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _pio() -> list[str]:
    return [sys.executable, "-m", "platformio"]


def render_build_config(public_key: bytes | None, device_id: str | None) -> str:
    """The C header the firmware includes for its trusted key and default device id (None: the
    port makes one, e.g. from the chip's serial number)."""
    if device_id is not None and not _DEVICE_ID_RE.match(device_id):
        raise UsageError(f"device id {device_id!r} must be 1..31 characters of [A-Za-z0-9._-]")
    lines = [
        "/* Generated by `tinyfleet firmware build` (hil/pio.py); do not edit. */",
        "#ifndef TF_BUILD_CONFIG_H",
        "#define TF_BUILD_CONFIG_H",
    ]
    if device_id is not None:
        lines.append(f'#define TF_DEVICE_ID "{device_id}"')
    if public_key is not None:
        if len(public_key) != 32:
            raise UsageError("the OTA public key must be 32 raw bytes (Ed25519)")
        body = ", ".join(f"0x{b:02x}" for b in public_key)
        lines.append(f"#define TF_OTA_PUBKEY {{{body}}}")
    lines += ["#endif", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class BuildResult:
    board: str
    elf: Path
    bin: Path
    flash_used: int
    flash_max: int
    ram_used: int
    ram_max: int
    log: str

    def summary(self) -> str:
        return (
            f"Flash: {self.flash_used} / {self.flash_max} bytes ({100 * self.flash_used / self.flash_max:.1f}%)\n"
            f"RAM:   {self.ram_used} / {self.ram_max} bytes ({100 * self.ram_used / self.ram_max:.1f}%)"
        )


_SECTION_RE = re.compile(r"^(\.\S+)\s+(\d+)\s+(\d+)\s*\Z")
_OVERFLOW_RE = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")
_TOO_BIG_RE = re.compile(
    r"Error: The (program|data) size \((\d+) bytes\) is greater than maximum allowed \((\d+) bytes\)"
)


def config_dir(build_dir: Path) -> Path:
    """Where tf_build_config.h goes: beside the build folder, which PlatformIO may empty
    (firmware/platformio.ini: ``-I ${platformio.build_dir}.tf-config``)."""
    return build_dir.with_name(build_dir.name + ".tf-config")


def elf_sections(elf: Path) -> dict[str, int]:
    out = subprocess.run(
        ["arm-none-eabi-size", "-A", "-d", str(elf)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise DeviceError(f"arm-none-eabi-size failed on {elf}: {out.stderr.strip()}")
    sizes: dict[str, int] = {}
    for line in out.stdout.splitlines():
        m = _SECTION_RE.match(line.strip())
        if m:
            sizes[m.group(1)] = int(m.group(2))
    return sizes


def _check_firmware_sources(fw: Path) -> None:
    """Monocypher is vendored in the tree (firmware/third_party/monocypher): a missing file is a
    damaged checkout, not something to fetch."""
    for name in ("monocypher.c", "monocypher-ed25519.c"):
        if not (fw / "third_party" / "monocypher" / name).is_file():
            raise UsageError(f"firmware/third_party/monocypher/{name} is missing: the checkout is incomplete")


REAL_BOARD_PLATFORMS = {"nano33ble": "nordicnrf52", "esp32dev": "espressif32"}


def require_platform(board_name: str, core: Path) -> None:
    """Real boards need their registry platform installed once; fail fast instead of hanging on the network."""
    platform = REAL_BOARD_PLATFORMS.get(board_name)
    if platform is None:
        return
    if not (core / "platforms" / platform / "platform.json").is_file():
        raise DeviceError(
            f"PlatformIO platform {platform!r} for {board_name} is not installed in {core} and its registry is "
            f"unreachable here; install it once with network access: PLATFORMIO_CORE_DIR={core} "
            f"pio pkg install -d firmware -e {board_name} (docs/firmware.md)"
        )


def build(
    board_name: str,
    build_dir: Path,
    public_key: bytes | None,
    device_id: str | None = None,
    verbose: bool = False,
    copy_to: Path | None = None,
) -> BuildResult:
    """Build the firmware with `pio run` into ``build_dir`` (incremental when it was used before).

    ``copy_to``: copy firmware.elf/.bin there while still holding the build lock, so a shared
    build directory can serve several sessions (the copy is this session's image)."""
    board = get_board(board_name)
    if board_name not in EMULATED_BOARDS + REAL_BOARDS:
        raise UsageError(
            f"{board_name} is not a firmware board; firmware boards: {', '.join(EMULATED_BOARDS + REAL_BOARDS)}"
        )
    fw = firmware_dir()
    _check_firmware_sources(fw)
    build_dir = Path(build_dir).resolve()
    config = render_build_config(public_key, device_id or board_name)
    core = ensure_core()
    require_platform(board_name, core)
    env = pio_env(core)
    env["PLATFORMIO_BUILD_DIR"] = str(build_dir)
    cmd = [*_pio(), "run", "-d", str(fw), "-e", board_name]
    if verbose:
        cmd.append("-v")
    elf = build_dir / board_name / "firmware.elf"
    binf = build_dir / board_name / "firmware.bin"
    with _locked(core / ".tinyfleet-build.lock"):
        atomic_write_text(config_dir(build_dir) / "tf_build_config.h", config)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            _raise_build_error(board, log)
        if not elf.is_file():
            raise DeviceError(f"pio run succeeded but {elf} is missing")
        if copy_to is not None:
            copy_to.mkdir(parents=True, exist_ok=True)
            elf = Path(shutil.copy2(elf, copy_to / "firmware.elf"))
            binf = Path(shutil.copy2(binf, copy_to / "firmware.bin"))
    sizes = elf_sections(elf)
    flash_used = sum(sizes.get(s, 0) for s in (".text", ".ARM.exidx", ".data"))
    ram_used = sum(sizes.get(s, 0) for s in (".data", ".bss", ".stack"))
    flash_max = _firmware_flash_budget(board)
    return BuildResult(board_name, elf, binf, flash_used, flash_max, ram_used, board.ram_bytes, log)


def _firmware_flash_budget(board: Board) -> int:
    """Flash left for the firmware image: the whole flash minus the model store."""
    boards_json = json.loads((firmware_dir() / "pio" / "boards" / f"{board.name}.json").read_text())
    return int(boards_json["upload"]["maximum_size"])


def _raise_build_error(board: Board, log: str) -> None:
    m = _OVERFLOW_RE.search(log)
    if m:
        region = {"FLASH": "flash", "RAM": "RAM", "STORE": "model store"}.get(m.group(1), m.group(1))
        raise BudgetError(
            f"firmware for {board.name} does not fit: {region} budget overflowed by {m.group(2)} bytes"
        )
    m = _TOO_BIG_RE.search(log)
    if m:
        what = "flash" if m.group(1) == "program" else "RAM"
        raise BudgetError(
            f"firmware for {board.name} does not fit: {what} use {m.group(2)} bytes > budget {m.group(3)} bytes"
        )
    if (
        "UnknownPlatform" in log
        or "Could not find the package" in log
        or "HTTPClientError" in log
        or "Unknown development platform" in log
    ):
        raise DeviceError(
            f"PlatformIO platform for {board.name} is not installed and the registry is unreachable; "
            "install it once with network access (docs/firmware.md)"
        )
    lines = [ln.strip() for ln in log.splitlines()]
    errors = [
        ln
        for ln in lines
        if ("error:" in ln or "undefined reference" in ln) and not ln.startswith("collect2")
    ]
    errors = errors or [ln for ln in lines if "error" in ln.lower()]
    detail = errors[0] if errors else (lines or ["no output"])[-1]
    raise DeviceError(f"firmware build for {board.name} failed: {detail}")


def upload(board_name: str, port: str, build_dir: Path) -> str:
    """`pio run -t upload` for a real board (needs its PlatformIO platform installed once)."""
    if board_name not in REAL_BOARDS:
        raise UsageError(f"upload is for real boards ({', '.join(REAL_BOARDS)}); {board_name} runs in QEMU")
    core = ensure_core()
    require_platform(board_name, core)
    env = pio_env(core)
    env["PLATFORMIO_BUILD_DIR"] = str(Path(build_dir).resolve())
    cmd = [*_pio(), "run", "-d", str(firmware_dir()), "-e", board_name, "-t", "upload", "--upload-port", port]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        _raise_build_error(get_board(board_name), log)
    return log
