"""McuLink over a serial line: the gateway's adapter onto the serial protocol client
(``tinyfleet.serialproto.SerialClient``, docs/serial-protocol.md), for the emulated board
(``socket://127.0.0.1:PORT``) and real boards (``/dev/ttyACM0``) alike.

Mapping: INFO → :class:`McuInfo`; OTA_BEGIN/OTA_CHUNK/OTA_COMMIT as they are (a device status is a
:class:`McuRefused`, final; a timeout or a device asking for another offset is a link error, after
which ``stream_ota`` opens the session again and continues where the device says). ``stream_ota``
drives the serial client itself through ``ota_port()`` (the protocol's one OTA session, chunks
pipelined: ``tinyfleet/ota_session.py``); ``activate`` and
``revert`` are RESET (the firmware boots a pending slot as a trial and reverts an unconfirmed trial
at the next boot), followed by INFO once the device answers again; CONFIRM as it is; TELEMETRY
starts a new period each read. The MCU reports mean and maximum latency (in ticks); the gateway
sends them as ``lat_p50_us`` and ``lat_p95_us``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from typing import Any

from tinyfleet.agent.mcu_link import McuInfo, McuModel, McuRefused, McuTelemetry
from tinyfleet.errors import DeviceError
from tinyfleet.ota_session import OtaPort
from tinyfleet.serialproto import (
    BootEvent,
    DeviceStatusError,
    Info,
    MsgType,
    SerialClient,
    SlotState,
    Status,
)

__all__ = ["SerialLink"]

_SLOT_STATE = {
    SlotState.EMPTY: "empty",
    SlotState.RECEIVING: "writing",
    SlotState.PENDING: "pending",
    SlotState.TRIAL: "trial",
    SlotState.CONFIRMED: "confirmed",
    SlotState.INACTIVE: "confirmed",
    SlotState.REJECTED: "failed",
}
BOOT_TIMEOUT_S = 30.0


def _open_port(url: str) -> Any:
    import serial

    try:
        port = serial.serial_for_url(url, timeout=0.05, baudrate=115200)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise DeviceError(f"cannot open {url}: {exc}") from None
    sock = getattr(port, "_socket", None)
    if sock is not None:  # the emulated board: without this every round trip waits ~40 ms
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return port


class SerialLink:
    def __init__(self, port: Any, client: SerialClient, url: str = "") -> None:
        self.port = port
        self.client = client
        self.url = url

    @classmethod
    def open(cls, url: str, timeout: float = 5.0) -> SerialLink:
        port = _open_port(url)
        link = cls(port, SerialClient(port, timeout=timeout), url)
        try:
            link.client.info()  # the first request also lets a freshly started QEMU boot the guest
        except DeviceError:
            link.close()
            raise
        return link

    # -- McuLink -------------------------------------------------------------------------------
    def info(self) -> McuInfo:
        return _info(self.client.info())

    def infer(self, x: bytes) -> bytes:
        try:
            return self.client.infer(x).output
        except DeviceStatusError as exc:
            raise McuRefused(str(exc)) from None

    def ota_begin(self, header: bytes) -> int:
        try:
            return self.client.ota_begin(header).resume_offset
        except DeviceStatusError as exc:
            raise McuRefused(str(exc)) from None

    def ota_chunk(self, offset: int, data: bytes) -> None:
        status, reply = self.client.request(MsgType.OTA_CHUNK, struct.pack("<I", offset) + data)
        if status == Status.OFFSET:
            # the device holds a different amount (e.g. after a reset): a link-level event; the
            # stream opens the session again and continues from the device's offset
            raise DeviceError(
                f"device expects offset {struct.unpack('<I', reply)[0] if len(reply) == 4 else '?'}"
            )
        if status != Status.OK:
            raise McuRefused(str(DeviceStatusError(MsgType.OTA_CHUNK, status)))

    def ota_port(self) -> OtaPort:
        """The serial client as the OTA session's port (pipelined chunks; refusals are
        DeviceStatusError, which ``stream_ota`` reports as McuRefused)."""
        return self.client

    def ota_commit(self) -> None:
        try:
            self.client.ota_commit()
        except DeviceStatusError as exc:
            raise McuRefused(str(exc)) from None

    def activate(self) -> McuInfo:
        return self._reset_and_wait()

    def confirm(self) -> None:
        try:
            self.client.confirm()
        except DeviceStatusError as exc:
            raise McuRefused(str(exc)) from None

    def revert(self) -> McuInfo:
        info = self.client.info()
        if not info.on_trial:
            return _info(info)
        return self._reset_and_wait()  # an unconfirmed trial reverts at the next boot

    def telemetry(self) -> McuTelemetry | None:
        tm = self.client.telemetry(new_period=True)
        hz = tm.tick_hz or 1
        return McuTelemetry(
            n=tm.inferences,
            err=tm.errors,
            lat_p50_us=round(tm.latency_mean * 1e6 / hz, 1),
            lat_p95_us=round(tm.latency_max * 1e6 / hz, 1),
            input_hist=[list(g) for g in tm.input_hist],
            cls=list(tm.class_counts),
            conf=list(tm.confidence_hist),
        )

    def close(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self.port.close()

    # -- internals -------------------------------------------------------------------------------
    def _reset_and_wait(self) -> McuInfo:
        try:
            self.client.reset()
        except DeviceStatusError as exc:
            raise McuRefused(str(exc)) from None
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                return _info(self.client.info())
            except DeviceError as exc:  # still booting
                last = exc
                time.sleep(0.1)
            except OSError as exc:  # a USB board re-enumerates when it resets: open the port again
                last = exc
                self._reopen()
                time.sleep(0.2)
        raise DeviceError(f"the MCU did not answer after RESET within {BOOT_TIMEOUT_S:g} s: {last}")

    def _reopen(self) -> None:
        self.close()
        try:
            self.port = _open_port(self.url)
        except DeviceError:
            return
        self.client = SerialClient(self.port, timeout=self.client.timeout)


def _info(i: Info) -> McuInfo:
    model = McuModel(i.model_name, i.model_version_str, i.model_security_counter) if i.model_running else None
    notes = []
    if i.boot_events & BootEvent.SELFTEST_FAILED:
        notes.append("golden self-test failed at boot")
    if i.boot_events & BootEvent.REVERTED:
        notes.append("trial reverted")
    if i.boot_events & BootEvent.INVALID:
        notes.append("a slot failed verification")
    return McuInfo(
        board="",
        firmware=i.firmware_version,
        active=model,
        trial=i.on_trial,
        security_counter=i.security_counter,
        input_bytes=i.input_bytes,
        output_bytes=i.output_bytes,
        selftest_ok=i.selftest_passed,
        slots={
            "a": _SLOT_STATE.get(i.slot_states[0], "empty"),
            "b": _SLOT_STATE.get(i.slot_states[1], "empty"),
        },
        last_selftest="; ".join(notes),
    )
