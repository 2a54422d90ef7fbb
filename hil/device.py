"""A board running tinyfleet firmware, driven over its UART from Python (HIL tests, run-model).

Frames, replies and INFO come from the protocol module `tinyfleet/serialproto.py`
(docs/serial-protocol.md); this module adds what a test bench needs on top: every text line the
board prints (boot banner, a fault report) kept in ``lines``, partial transfers for power-cut
tests, and ``install()``: the whole model update as a gateway does it — the one OTA session of
``tinyfleet/ota_session.py`` (OTA_BEGIN with device.bin + device.sig, resumable; OTA_CHUNKs
pipelined from where the board says it is; OTA_COMMIT: digests, signature, security counter), then
RESET into the trial (the firmware runs the golden self-test and reverts by itself when it fails)
and CONFIRM. Requests go through :class:`tinyfleet.serialproto.SerialClient`.
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
from tinyfleet.ota_session import DEFAULT_CHUNK, DEFAULT_WINDOW, run_ota, send_chunks
from tinyfleet.serialproto import (
    MAX_PAYLOAD,
    DeviceStatusError,
    Info,
    MsgType,
    OtaBegin,
    SerialClient,
    Status,
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
        self.client = SerialClient(ser, timeout=10.0)

    @property
    def lines(self) -> list[str]:
        """Every text line the board printed since the link opened (the newest 1000)."""
        return self.client.lines

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
        return self.client.send(mtype, payload)

    def wait_reply(self, mtype: MsgType, req: int, timeout: float = 10.0) -> bytes:
        """The reply to request ``req``: its payload after the status byte; raises on an error status."""
        status, data = self.client.wait_reply(mtype, req, timeout)
        if status != Status.OK:
            raise DeviceStatusError(mtype, status)
        return data

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
        chunk: int = DEFAULT_CHUNK,
        on_progress: Callable[[int], None] | None = None,
        window: int = DEFAULT_WINDOW,
    ) -> int:
        """OTA_CHUNKs of ``payload[start:stop]`` (the session's pipelined stream); returns the offset
        the board expects next."""
        progress = None if on_progress is None else (lambda done, _total: on_progress(done))
        return send_chunks(self.client, payload, start, stop, chunk=chunk, window=window, progress=progress)

    def send_payload(self, package: bytes, start: int, stop: int) -> int:
        return self.send_bytes(self.payload_of(package), start, stop)

    def commit(self) -> None:
        self.request(MsgType.OTA_COMMIT, timeout=120.0)

    def send_commit_no_wait(self) -> None:
        self.send(MsgType.OTA_COMMIT)

    def commit_and_boot(self, expect: tuple[str, str] | None = None) -> Info:
        """COMMIT, then :meth:`boot_trial`."""
        self.commit()
        return self.boot_trial(expect)

    def boot_trial(self, expect: tuple[str, str] | None = None) -> Info:
        """Reset into the trial, check that it runs the new model, CONFIRM."""
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
        payload = m["model.tflite"] + m["golden.bin"]
        result = run_ota(
            self.client,
            m["device.bin"] + m["device.sig"],
            payload,
            final=(DeviceStatusError,),
            progress=None if on_progress is None else (lambda done, _total: on_progress(done)),
        )
        self.boot_trial(expect=(str(manifest.get("name")), str(manifest.get("version"))))
        return len(payload) - result.started_at


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
