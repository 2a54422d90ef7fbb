"""`tinyfleet firmware export --arduino OUT`: the device firmware as an Arduino library.

The library is the portable core, the micro runtime, Monocypher and the Nano 33 BLE Sense port
(``firmware/ports/nano33ble``), flattened into ``src/`` (the Arduino IDE compiles every source
there and puts only ``src/`` on the include path), with ``library.properties``, the generated
``tf_build_config.h`` (the trusted OTA key and device id, as ``tinyfleet firmware build`` makes it)
and an example sketch (``examples/tinyfleet_device``) that speaks the serial protocol.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tinyfleet.errors import UsageError
from tinyfleet.fsutil import atomic_write_text
from tinyfleet.hil.pio import firmware_dir, render_build_config

__all__ = ["LIBRARY_NAME", "export_arduino", "library_sources"]

LIBRARY_NAME = "tinyfleet"
# (folder under firmware/, file patterns) copied flat into src/
_SOURCES = (
    ("core/include", ("*.h",)),
    ("core/src", ("*.c", "*.h")),
    ("core/bind", ("*.c",)),
    ("runtime/include", ("*.h",)),
    ("runtime/src", ("*.c", "*.h")),
    ("third_party/monocypher", ("*.c", "*.h")),
    ("ports/nano33ble", ("board.cpp", "tinyfleet.h")),
)


def library_sources() -> list[Path]:
    fw = firmware_dir()
    files: list[Path] = []
    for folder, patterns in _SOURCES:
        for pattern in patterns:
            files += sorted((fw / folder).glob(pattern))
    names = [f.name for f in files]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise UsageError(f"firmware sources share a file name, cannot flatten them: {', '.join(clash)}")
    return files


def _properties(version: str) -> str:
    return "\n".join(
        [
            f"name={LIBRARY_NAME}",
            f"version={version}",
            "author=tinyfleet",
            "maintainer=tinyfleet",
            "sentence=tinyfleet device firmware: signed A/B model OTA, bit-exact int8 inference, MLPerf Tiny DUT.",
            "paragraph=Answers the tinyfleet serial protocol on Serial; models arrive signed over the air.",
            "category=Data Processing",
            "url=https://github.com/tinyfleet/tinyfleet",
            "architectures=mbed,mbed_nano",
            "includes=tinyfleet.h",
            "",
        ]
    )


def export_arduino(
    out: Path, public_key: bytes | None, device_id: str | None = None, version: str = "0.1.0"
) -> Path:
    """Write the library into ``out`` (created; must not exist or be empty). Returns its folder."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not an empty folder")
    fw = firmware_dir()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    src = tmp / "src"
    src.mkdir(parents=True)
    for f in library_sources():
        shutil.copy2(f, src / f.name)
    atomic_write_text(src / "tf_build_config.h", render_build_config(public_key, device_id))
    shutil.copy2(fw / "third_party" / "monocypher" / "LICENCE", tmp / "LICENCE-monocypher")
    example = tmp / "examples" / "tinyfleet_device"
    example.mkdir(parents=True)
    shutil.copy2(
        fw / "ports" / "nano33ble" / "arduino" / "tinyfleet_device.ino", example / "tinyfleet_device.ino"
    )
    atomic_write_text(tmp / "library.properties", _properties(version))
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return out
