"""A board running tinyfleet firmware, driven over its UART from Python (HIL tests, run-model).

Frames, replies and INFO come from the protocol module `tinyfleet/serialproto.py`
(docs/serial-protocol.md); this module adds what a test bench needs on top: every text line the
board prints (boot banner, a fault report) kept in ``lines``, OTA chunks pipelined a few at a time
(the board's 4 KiB receive ring holds them), partial transfers for power-cut tests, and
``install()``: the whole model update as a gateway does it — OTA_BEGIN (device.bin + device.sig,
resumable), OTA_CHUNKs from where the board says it is, OTA_COMMIT (digests, signature, security
counter), RESET into the trial (the firmware runs the golden self-test and reverts by itself when
it fails), CONFIRM.
"""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
from collections.abc import Callable
from typing import Any

from tinyfleet.errors import DeviceError, PackageError
from tinyfleet.serialproto import (
    MAX_PAYLOAD,
    REPLY,
    DeviceStatusError,
    Frame,
    Info,
    MsgType,
    OtaBegin,
    Status,
    StreamSplitter,
    encode_frame,
)

__all__ = ["BoardLink", "ModelReverted", "install_package_file"]


class ModelReverted(DeviceStatusError):
    """The trial boot did not run the new model: its load or golden self-test failed and the
    firmware went back to the previous slot."""

    def __init__(self, info: Info) -> None:
        super().__init__(MsgType.RESET, Status.SELFTEST)
        self.info = info
        self.args = (
            f"the board reverted the new model after its trial boot (boot events: {info.boot_events!r})",
        )


class BoardLink:
    """One serial connection to a board (``socket://127.0.0.1:PORT`` or a device path)."""

    def __init__(self, ser: Any) -> None:
        self.ser = ser
        self._split = StreamSplitter()
        self._frames: list[Frame] = []
        self._req = 0
        self.lines: list[str] = []

    @classmethod
    def open(cls, url: str, timeout: float = 0.2) -> BoardLink:
        from tinyfleet.hil.plugin import open_serial

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
        """The port's fault handler printed `!panic ...` (then reset the board)."""
        return any(line.startswith("!panic") for line in self.lines)

    # ---- requests ----
    def send(self, mtype: MsgType, payload: bytes = b"") -> int:
        self._req = self._req % 0xFFFF + 1
        self.ser.write(encode_frame(mtype, self._req, payload))
        return self._req

    def wait_reply(self, mtype: MsgType, req: int, timeout: float = 10.0) -> bytes:
        """The reply to request ``req``: its payload after the status byte; raises on an error status."""
        deadline = time.monotonic() + timeout
        while True:
            for i, f in enumerate(self._frames):
                if f.type == (mtype | REPLY) and f.req_id == req and f.payload:
                    del self._frames[: i + 1]
                    if f.payload[0] != Status.OK:
                        raise DeviceStatusError(mtype, f.payload[0])
                    return f.payload[1:]
            if time.monotonic() > deadline:
                raise DeviceError(f"no {mtype.name} reply from the board within {timeout:g} s")
            data = self.ser.read(4096)
            for item in self._split.feed(data):
                if isinstance(item, Frame):
                    self._frames.append(item)
                else:
                    self.lines.append(item)

    def request(self, mtype: MsgType, payload: bytes = b"", timeout: float = 10.0) -> bytes:
        return self.wait_reply(mtype, self.send(mtype, payload), timeout)

    # ---- messages ----
    def info(self, timeout: float = 10.0) -> Info:
        return Info.parse(self.request(MsgType.INFO, timeout=timeout))

    def arena_used(self) -> int:
        return self.info().arena_used

    def wait_ready(self, timeout: float = 30.0) -> Info:
        """INFO until the board answers (after a boot or a reset)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.info(timeout=1.0)
            except DeviceStatusError:
                raise
            except DeviceError:
                if time.monotonic() > deadline:
                    raise DeviceError(f"the board did not answer INFO within {timeout:g} s") from None

    def infer(self, x: bytes, timeout: float = 120.0) -> tuple[bytes, int]:
        """One inference: the input in pieces, the last one runs it. Returns (int8 output, SysTick ticks)."""
        step = MAX_PAYLOAD - 5
        for off in range(0, len(x), step):
            last = off + step >= len(x)
            reply = self.request(
                MsgType.INFER,
                struct.pack("<IB", off, 1 if last else 0) + x[off : off + step],
                timeout=timeout if last else 10.0,
            )
        ticks, n = struct.unpack_from("<II", reply)
        return bytes(reply[8 : 8 + n]), ticks

    def reset(self) -> None:
        self.request(MsgType.RESET)

    def confirm(self) -> None:
        self.request(MsgType.CONFIRM)

    # ---- OTA ----
    # The host does not verify packages here: the board does, and the tests send it bad ones.
    @staticmethod
    def members(package: bytes) -> dict[str, bytes]:
        try:
            with zipfile.ZipFile(io.BytesIO(package)) as zf:
                return {
                    n: zf.read(n)
                    for n in ("manifest.json", "device.bin", "device.sig", "model.tflite", "golden.bin")
                }
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

    def begin_raw(self, header: bytes) -> OtaBegin:
        return OtaBegin(*struct.unpack_from("<III", self.request(MsgType.OTA_BEGIN, header, timeout=60.0)))

    def begin(self, package: bytes) -> OtaBegin:
        return self.begin_raw(self.header_of(package))

    def send_bytes(
        self,
        payload: bytes,
        start: int,
        stop: int,
        chunk: int = 1008,
        on_progress: Callable[[int], None] | None = None,
        window: int = 3,
    ) -> int:
        """OTA_CHUNKs of ``payload[start:stop]``, up to ``window`` in flight (replies come back in
        order); returns the offset the board expects next."""
        pending: list[int] = []
        offset = expected = start
        while offset < stop or pending:
            while offset < stop and len(pending) < window:
                part = payload[offset : min(offset + chunk, stop)]
                pending.append(self.send(MsgType.OTA_CHUNK, struct.pack("<I", offset) + part))
                offset += len(part)
            expected = struct.unpack_from("<I", self.wait_reply(MsgType.OTA_CHUNK, pending.pop(0), 30.0))[0]
            if on_progress is not None:
                on_progress(expected)
        return expected

    def send_payload(self, package: bytes, start: int, stop: int) -> int:
        return self.send_bytes(self.payload_of(package), start, stop)

    def commit(self) -> None:
        self.request(MsgType.OTA_COMMIT, timeout=120.0)

    def send_commit_no_wait(self) -> None:
        self.send(MsgType.OTA_COMMIT)

    def commit_and_boot(self, expect: tuple[str, str] | None = None) -> Info:
        """COMMIT, reset into the trial, check that it runs the new model, CONFIRM."""
        self.commit()
        self.reset()
        info = self.wait_ready()
        if not info.on_trial or (expect is not None and (info.model_name, info.model_version_str) != expect):
            raise ModelReverted(info)
        self.confirm()
        return self.info()

    def install(self, package: bytes, on_progress: Callable[[int], None] | None = None) -> int:
        """The whole update; returns the payload bytes sent. Raises DeviceStatusError when refused or reverted."""
        m = self.members(package)
        manifest = json.loads(m["manifest.json"])
        session = self.begin_raw(m["device.bin"] + m["device.sig"])
        payload = m["model.tflite"] + m["golden.bin"]
        if session.total != len(payload):
            raise DeviceError(
                f"the board expects {session.total} payload bytes, the package has {len(payload)}"
            )
        self.send_bytes(
            payload, session.resume_offset, session.total, min(session.max_chunk, 1008), on_progress
        )
        self.commit_and_boot(expect=(str(manifest.get("name")), str(manifest.get("version"))))
        return len(payload) - session.resume_offset


def install_package_file(url: str, path: Any) -> str:
    """`tinyfleet firmware flash --model PKG`: install a package file on the board at ``url``."""
    from pathlib import Path

    try:
        package = Path(path).read_bytes()
    except OSError as exc:
        raise PackageError(f"cannot read {path}: {exc.strerror}") from None
    with BoardLink.open(url) as link:
        link.wait_ready()
        link.install(package)
        info = link.info()
    return f"{info.model_name} {info.model_version_str} (slot {'AB'[info.running_slot]}, confirmed)"
