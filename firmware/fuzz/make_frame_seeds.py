#!/usr/bin/env python3
"""Write the seed corpus of fuzz_frame_decoder (firmware/fuzz/seeds/fuzz_frame_decoder/).

Each seed is a UART byte stream a host could send: frames built with tinyfleet.serialproto and
EEMBC text commands. The OTA seeds use the V1 package of the C fixtures, which the fuzz target
has installed. Run from the repository root: .venv/bin/python firmware/fuzz/make_frame_seeds.py
"""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

from tinyfleet.serialproto import MsgType, encode_frame

HERE = Path(__file__).resolve().parent
OUT = HERE / "seeds" / "fuzz_frame_decoder"


def _v1() -> tuple[bytes, bytes]:
    spec = importlib.util.spec_from_file_location(
        "gen_core_fixtures", HERE.parent / "tests" / "gen_core_fixtures.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.package(1, "digits", (1, 0, 0), 5, model_size=300)  # type: ignore[no-any-return]


def main() -> None:
    begin, payload = _v1()
    x = bytes(range(16))
    seeds = {
        "info": encode_frame(MsgType.INFO, 1),
        "infer": encode_frame(MsgType.INFER, 2, struct.pack("<IB", 0, 0) + x[:10])
        + encode_frame(MsgType.INFER, 3, struct.pack("<IB", 10, 1) + x[10:]),
        "telemetry": encode_frame(MsgType.TELEMETRY, 4, b"\x01\x02") + encode_frame(MsgType.TELEMETRY, 5),
        "ota": encode_frame(MsgType.OTA_BEGIN, 6, begin)
        + encode_frame(MsgType.OTA_CHUNK, 7, struct.pack("<I", 0) + payload[:128])
        + encode_frame(MsgType.OTA_COMMIT, 8)
        + encode_frame(MsgType.CONFIRM, 9),
        "reset": encode_frame(MsgType.RESET, 10),
        "eembc": b"name%profile%db load 16%db "
        + x.hex().encode()
        + b"%db print%infer 2 1%results%timestamp%",
        "mixed": b"name%"
        + encode_frame(MsgType.INFO, 11)
        + b"\x00\x03\x11"
        + encode_frame(MsgType.INFO, 12)
        + b"results%",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
