"""`tinyfleet firmware export --arduino OUT` writes an Arduino library that compiles and links with the
ARM toolchain for the nRF52840 (Cortex-M4F, as the Arduino mbed core builds for the Nano 33 BLE Sense).

The Arduino mbed core itself cannot be fetched here, so the test stands in for it with headers that
declare only what the port uses (``Serial``, ``micros()``, ``NVIC_SystemReset()``, ``NRF_FICR``,
``mbed::FlashIAP``) and a file defining them; everything else — the library's sources and the
example sketch as the Arduino IDE turns it into C++ — is compiled as exported.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi")

ARDUINO_H = """#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
class SerialStandIn {
public:
    void begin(unsigned long baud);
    int available();
    int read();
    size_t write(const uint8_t *buf, size_t len);
    void flush();
};
extern SerialStandIn Serial;
unsigned long micros(void);
extern "C" void NVIC_SystemReset(void);
struct FicrStandIn { uint32_t DEVICEID[2]; };
extern FicrStandIn *NRF_FICR;
"""

FLASHIAP_H = """#pragma once
#include <stdint.h>
namespace mbed {
class FlashIAP {
public:
    int init();
    int read(void *buffer, uint32_t addr, uint32_t size);
    int program(const void *buffer, uint32_t addr, uint32_t size);
    int erase(uint32_t addr, uint32_t size);
    uint32_t get_sector_size(uint32_t addr) const;
};
}
"""

STANDIN_CPP = """#include <Arduino.h>
#include <FlashIAP.h>
SerialStandIn Serial;
void SerialStandIn::begin(unsigned long) {}
int SerialStandIn::available() { return 0; }
int SerialStandIn::read() { return -1; }
size_t SerialStandIn::write(const uint8_t *, size_t len) { return len; }
void SerialStandIn::flush() {}
unsigned long micros(void) { return 0; }
extern "C" void NVIC_SystemReset(void) { for (;;) {} }
static FicrStandIn ficr;
FicrStandIn *NRF_FICR = &ficr;
namespace mbed {
int FlashIAP::init() { return 0; }
int FlashIAP::read(void *, uint32_t, uint32_t) { return 0; }
int FlashIAP::program(const void *, uint32_t, uint32_t) { return 0; }
int FlashIAP::erase(uint32_t, uint32_t) { return 0; }
uint32_t FlashIAP::get_sector_size(uint32_t) const { return 4096; }
}
void setup();
void loop();
int main() { setup(); for (;;) loop(); }
"""

CPU = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os", "-ffunction-sections"]


def _export(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinyfleet.cli.main", "firmware", "export", "--arduino", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_export_compiles_and_links_for_the_nrf52840(tmp_path: Path) -> None:
    lib = tmp_path / "tinyfleet"
    r = _export(lib, "--no-pubkey")
    assert r.returncode == 0, r.stderr
    props = dict(
        line.split("=", 1) for line in (lib / "library.properties").read_text().splitlines() if "=" in line
    )
    assert props["name"] == "tinyfleet" and props["includes"] == "tinyfleet.h"
    sketch = lib / "examples" / "tinyfleet_device" / "tinyfleet_device.ino"
    assert "tinyfleet_begin()" in sketch.read_text() and "tinyfleet_poll()" in sketch.read_text()
    assert (lib / "LICENCE-monocypher").is_file()

    core = tmp_path / "core-stand-in"
    core.mkdir()
    (core / "Arduino.h").write_text(ARDUINO_H)
    (core / "FlashIAP.h").write_text(FLASHIAP_H)
    (core / "stand_in.cpp").write_text(STANDIN_CPP)
    # the Arduino IDE prepends `#include <Arduino.h>` to a sketch and compiles it as C++
    (tmp_path / "sketch.cpp").write_text("#include <Arduino.h>\n" + sketch.read_text())
    objs = tmp_path / "obj"
    objs.mkdir()
    src = lib / "src"
    inc = [f"-I{src}", f"-I{core}"]
    units = (
        sorted(src.glob("*.c")) + sorted(src.glob("*.cpp")) + [tmp_path / "sketch.cpp", core / "stand_in.cpp"]
    )
    for unit in units:
        if unit.suffix == ".c":
            cmd = ["arm-none-eabi-gcc", *CPU, "-std=c11", "-Wall", "-Wextra", "-Werror"]
        else:
            cmd = [
                "arm-none-eabi-g++",
                *CPU,
                "-std=gnu++17",
                "-fno-exceptions",
                "-fno-rtti",
                "-Wall",
                "-Werror",
            ]
        out = objs / (unit.stem + ".o")
        c = subprocess.run(
            [*cmd, *inc, "-c", str(unit), "-o", str(out)], capture_output=True, text=True, check=False
        )
        assert c.returncode == 0, f"{unit.name}:\n{c.stderr[-2000:]}"
    elf = tmp_path / "tinyfleet_device.elf"
    link = subprocess.run(
        [
            "arm-none-eabi-gcc",
            *CPU,
            "--specs=nano.specs",
            "--specs=nosys.specs",
            "-Wl,--gc-sections",
            *[str(p) for p in sorted(objs.glob("*.o"))],
            "-lm",
            "-o",
            str(elf),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert link.returncode == 0, link.stderr[-3000:]
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    for symbol in ("tinyfleet_begin", "device_poll", "tfrt_invoke", "crypto_ed25519_check"):
        assert f" {symbol}" in nm, symbol


def test_export_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    r = _export(tmp_path / "x", "--no-pubkey")
    assert r.returncode != 0 and "not an empty folder" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
