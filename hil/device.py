"""A board running tinyfleet firmware, driven over its UART from Python (HIL tests, run-model).

Speaks the binary frames of docs/serial-protocol.md (firmware/core: tf_proto.h, tf_app.h): on the
wire ``0x00, COBS(body), 0x00``; body = marker 0xF1, type, request id (u16 LE), payload, CRC-32
(zlib) of everything before it. A reply has type | 0x80 and starts with a status byte. Text the
board prints between frames (boot banner, EEMBC lines, a fault report) is kept in ``self.text``.

``install()`` is the whole model update as a gateway does it: OTA_BEGIN (device.bin + device.sig,
resumable), OTA_CHUNKs from where the board says it is, OTA_COMMIT (digests, signature, security
counter), RESET into the trial (the firmware runs the golden self-test and reverts by itself when
it fails), then CONFIRM.
"""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tinyfleet.errors import DeviceError, PackageError

__all__ = ["BoardInfo", "BoardLink", "DeviceRefused", "OtaSession", "cobs_decode", "cobs_encode"]

MARKER = 0xF1
MSG_INFO, MSG_INFER, MSG_OTA_BEGIN, MSG_OTA_CHUNK, MSG_OTA_COMMIT, MSG_CONFIRM, MSG_TELEMETRY, MSG_RESET = range(1, 9)
REPLY = 0x80
MAX_PAYLOAD = 1024
STATUS = {
    0x01: "unknown type", 0x02: "bad length", 0x03: "no model", 0x04: "wrong state", 0x05: "bad manifest",
    0x06: "bad offset", 0x07: "flash error", 0x08: "digest mismatch", 0x09: "bad signature",
    0x0A: "security counter lower than the stored one", 0x0B: "no public key", 0x0C: "model refused by the runtime",
    0x0D: "golden self-test failed", 0x0E: "no model on trial", 0x0F: "too large", 0x10: "inference failed",
}
SLOT_STATES = ("empty", "receiving", "pending", "trial", "confirmed", "inactive", "rejected")


class DeviceRefused(DeviceError):
    """The board answered with an error status."""

    def __init__(self, what: str, status: int) -> None:
        super().__init__(f"{what}: the board refused ({STATUS.get(status, f'status 0x{status:02x}')})")
        self.status = status


def cobs_encode(data: bytes) -> bytes:
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes | None:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data) + (0 if code < 255 else 0):
            return None
        end = i + code
        if end > len(data):
            return None
        out += data[i + 1:end]
        i = end
        if code < 255 and i < len(data):
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class BoardInfo:
    flags: int
    running_slot: int
    slot_states: tuple[str, str]
    security_counter: int
    slot_capacity: int
    arena_size: int
    arena_used: int
    tick_hz: int
    rx_pos: int
    rx_total: int
    device_id: str
    firmware: str
    model_name: str
    model_version: str
    model_security_counter: int
    model_sha256: bytes
    input_bytes: int
    output_bytes: int

    @property
    def trial(self) -> bool:
        return bool(self.flags & 0x02)

    @classmethod
    def parse(cls, p: bytes) -> BoardInfo:
        if len(p) < 172 or p[0] != 1:
            raise DeviceError(f"INFO reply of {len(p)} bytes, version {p[0] if p else '?'} is not understood")

        def text(a: int, n: int) -> str:
            return p[a:a + n].split(b"\0", 1)[0].decode("utf-8", "replace")

        sc, cap, arena, used, hz, pos, total = struct.unpack_from("<7I", p, 8)
        major, minor, patch = struct.unpack_from("<3H", p, 116)
        msc = struct.unpack_from("<I", p, 124)[0]
        name = text(84, 32)
        return cls(
            flags=p[1], running_slot=struct.unpack_from("b", p, 3)[0],
            slot_states=(SLOT_STATES[p[4]] if p[4] < len(SLOT_STATES) else str(p[4]),
                         SLOT_STATES[p[5]] if p[5] < len(SLOT_STATES) else str(p[5])),
            security_counter=sc, slot_capacity=cap, arena_size=arena, arena_used=used, tick_hz=hz, rx_pos=pos,
            rx_total=total, device_id=text(36, 32), firmware=text(68, 16), model_name=name,
            model_version=f"{major}.{minor}.{patch}" if name else "", model_security_counter=msc,
            model_sha256=bytes(p[128:160]) if name else b"", input_bytes=struct.unpack_from("<I", p, 160)[0],
            output_bytes=struct.unpack_from("<I", p, 164)[0],
        )


@dataclass(frozen=True)
class OtaSession:
    offset: int  # payload bytes the board already holds for this header (resume point)
    total: int  # payload bytes expected (model.tflite + golden.bin)
    max_chunk: int


class BoardLink:
    """One serial connection to a board (``socket://127.0.0.1:PORT`` or a device path)."""

    def __init__(self, ser: Any) -> None:
        self.ser = ser
        self._buf = bytearray()
        self._req = 0
        self.text = bytearray()

    @classmethod
    def open(cls, url: str, timeout: float = 0.2) -> BoardLink:
        from hil.plugin import open_serial

        try:
            return cls(open_serial(url, timeout=timeout))
        except OSError as exc:
            raise DeviceError(f"cannot open {url}: {exc}") from None

    def __enter__(self) -> BoardLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.ser.close()

    @property
    def panicked(self) -> bool:
        return b"!panic" in self.text

    # ---- frames ----
    def send(self, mtype: int, payload: bytes = b"") -> int:
        self._req = (self._req + 1) & 0xFFFF
        body = bytes([MARKER, mtype]) + struct.pack("<H", self._req) + payload
        body += struct.pack("<I", zlib.crc32(body))
        self.ser.write(b"\0" + cobs_encode(body) + b"\0")
        self.ser.flush()
        return self._req

    def _next_frame(self, deadline: float) -> tuple[int, int, bytes] | None:
        while True:
            while True:
                end = self._buf.find(b"\0")
                if end < 0:
                    break
                chunk = bytes(self._buf[:end])
                del self._buf[:end + 1]
                frame = self._parse(chunk)
                if frame is not None:
                    return frame
                self.text += chunk
            if time.monotonic() > deadline:
                return None
            data = self.ser.read(4096)
            if data:
                self._buf += data

    @staticmethod
    def _parse(chunk: bytes) -> tuple[int, int, bytes] | None:
        if len(chunk) < 9:
            return None
        body = cobs_decode(chunk)
        if body is None or len(body) < 8 or body[0] != MARKER:
            return None
        if zlib.crc32(body[:-4]) != struct.unpack_from("<I", body, len(body) - 4)[0]:
            return None
        return body[1], struct.unpack_from("<H", body, 2)[0], body[4:-4]

    def request(self, mtype: int, payload: bytes = b"", timeout: float = 10.0, what: str = "") -> bytes:
        """Send a request and return the reply payload after its status byte; raises on an error status."""
        return self.wait_reply(mtype, self.send(mtype, payload), timeout, what)

    def wait_reply(self, mtype: int, req: int, timeout: float = 10.0, what: str = "") -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            frame = self._next_frame(deadline)
            if frame is None:
                raise DeviceError(f"{what or f'request 0x{mtype:02x}'}: no reply within {timeout:.0f} s")
            rtype, rid, body = frame
            if rtype == (mtype | REPLY) and rid == req and body:
                if body[0] != 0:
                    raise DeviceRefused(what or f"request 0x{mtype:02x}", body[0])
                return body[1:]

    # ---- messages ----
    def info(self, timeout: float = 10.0) -> BoardInfo:
        return BoardInfo.parse(self.request(MSG_INFO, timeout=timeout, what="INFO"))

    def arena_used(self) -> int:
        return self.info().arena_used

    def wait_ready(self, timeout: float = 30.0) -> BoardInfo:
        """INFO until the board answers (after a boot or a reset)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.info(timeout=1.0)
            except DeviceRefused:
                raise
            except DeviceError:
                if time.monotonic() > deadline:
                    raise DeviceError(f"the board did not answer INFO within {timeout:.0f} s") from None

    def infer(self, x: bytes, timeout: float = 120.0) -> tuple[bytes, int]:
        """One inference: the input in chunks, the last one runs it. Returns (int8 output, SysTick ticks)."""
        step = MAX_PAYLOAD - 5
        offset = 0
        while True:
            part = x[offset:offset + step]
            last = offset + len(part) >= len(x)
            reply = self.request(MSG_INFER, struct.pack("<IB", offset, 1 if last else 0) + part,
                                 timeout=timeout if last else 10.0, what="INFER")
            if last:
                ticks, n = struct.unpack_from("<II", reply)
                return bytes(reply[8:8 + n]), ticks
            offset += len(part)

    def telemetry(self, read: bool = True, groups: int = 0) -> bytes:
        return self.request(MSG_TELEMETRY, bytes([1 if read else 0, groups]), what="TELEMETRY")

    def reset(self) -> None:
        self.request(MSG_RESET, what="RESET")

    def confirm(self) -> None:
        self.request(MSG_CONFIRM, what="CONFIRM")

    # ---- OTA ----
    # The host does not verify packages here: the board does, and the tests send it bad ones.
    @staticmethod
    def members(package: bytes) -> dict[str, bytes]:
        try:
            with zipfile.ZipFile(io.BytesIO(package)) as zf:
                return {n: zf.read(n) for n in ("manifest.json", "device.bin", "device.sig", "model.tflite", "golden.bin")}
        except (zipfile.BadZipFile, KeyError) as exc:
            raise PackageError(f"not a model package: {exc}") from None

    @classmethod
    def header_of(cls, package: bytes) -> bytes:
        m = cls.members(package)
        return m["device.bin"] + m["device.sig"]

    @classmethod
    def payload_of(cls, package: bytes) -> bytes:
        m = cls.members(package)
        return m["model.tflite"] + m["golden.bin"]

    def begin_raw(self, header: bytes) -> OtaSession:
        r = self.request(MSG_OTA_BEGIN, header, timeout=60.0, what="OTA_BEGIN")
        return OtaSession(*struct.unpack_from("<III", r))

    def begin(self, package: bytes) -> OtaSession:
        return self.begin_raw(self.header_of(package))

    def send_bytes(self, payload: bytes, start: int, stop: int, chunk: int = 1008,
                   on_progress: Callable[[int], None] | None = None, window: int = 3) -> int:
        """OTA_CHUNKs of ``payload[start:stop]``, up to ``window`` in flight (they fit the board's
        4 KiB receive ring, and replies come back in order); returns the offset the board expects next."""
        pending: list[int] = []
        offset = start
        expected = start
        while offset < stop or pending:
            while offset < stop and len(pending) < window:
                part = payload[offset:min(offset + chunk, stop)]
                pending.append(self.send(MSG_OTA_CHUNK, struct.pack("<I", offset) + part))
                offset += len(part)
            r = self.wait_reply(MSG_OTA_CHUNK, pending.pop(0), timeout=30.0, what="OTA_CHUNK")
            expected = struct.unpack_from("<I", r)[0]
            if on_progress is not None:
                on_progress(expected)
        return expected

    def send_payload(self, package: bytes, start: int, stop: int) -> int:
        return self.send_bytes(self.payload_of(package), start, stop)

    def commit(self) -> None:
        self.request(MSG_OTA_COMMIT, timeout=120.0, what="OTA_COMMIT")

    def send_commit_no_wait(self) -> None:
        self.send(MSG_OTA_COMMIT)

    def commit_and_boot(self, expect: tuple[str, str] | None = None) -> BoardInfo:
        """COMMIT, reset into the trial, check it runs the new model, CONFIRM."""
        self.commit()
        self.reset()
        info = self.wait_ready()
        if not info.trial or (expect is not None and (info.model_name, info.model_version) != expect):
            raise DeviceRefused("trial boot", 0x0D)  # the firmware reverted: self-test or model load failed
        self.confirm()
        return self.info()

    def install(self, package: bytes, on_progress: Callable[[int], None] | None = None) -> int:
        """The whole update; returns the payload bytes sent. Raises DeviceRefused when refused or reverted."""
        m = self.members(package)
        manifest = json.loads(m["manifest.json"])
        session = self.begin_raw(m["device.bin"] + m["device.sig"])
        payload = m["model.tflite"] + m["golden.bin"]
        if session.total != len(payload):
            raise DeviceError(f"the board expects {session.total} payload bytes, the package has {len(payload)}")
        self.send_bytes(payload, session.offset, session.total, min(session.max_chunk, 1008), on_progress)
        self.commit_and_boot(expect=(str(manifest.get("name")), str(manifest.get("version"))))
        return len(payload) - session.offset

    def payload_size(self, package: bytes) -> int:
        return len(self.payload_of(package))
