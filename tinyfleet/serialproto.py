"""The host side of the device serial protocol (docs/serial-protocol.md).

Frames on the wire are ``0x00, COBS(body), 0x00``; the body is a marker byte ``0xF1``, a type byte,
a little-endian u16 request id, the payload and a CRC-32 (IEEE, as :func:`zlib.crc32`) of all that.
A reply has the request's type with bit 7 set, echoes its id, and starts its payload with a
status byte (:class:`Status`). MLPerf Tiny text commands (``name%``...) share the UART; the
device's text lines end with CR LF and never contain 0x00.

Layers, each usable alone:

- :func:`cobs_encode` / :func:`cobs_decode`, :func:`encode_frame` / :func:`parse_body`;
- :class:`StreamSplitter`: bytes in, :class:`Frame` objects and text lines out;
- message codecs: :class:`Info`, :class:`InferResult`, :class:`OtaBegin`, :class:`Telemetry`;
- :class:`SerialClient`: requests over any pyserial-like object (``read(n)``, ``write(b)``), with
  timeouts; it is an :class:`tinyfleet.ota_session.OtaPort`, and :meth:`SerialClient.send_model`
  runs the one OTA session (pipelined chunks, resumable) over it.

Errors are :class:`tinyfleet.errors.DeviceError`; a refusal by the device is a
:class:`DeviceStatusError` carrying the :class:`Status`.
"""

from __future__ import annotations

import enum
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from tinyfleet.errors import DeviceError
from tinyfleet.ota_session import DEFAULT_WINDOW, OtaResult, OtaStart, run_ota

__all__ = [
    "MARKER",
    "MAX_PAYLOAD",
    "OTA_BEGIN_SIZE",
    "REPLY",
    "BootEvent",
    "DeviceStatusError",
    "Frame",
    "InferResult",
    "Info",
    "MsgType",
    "OtaBegin",
    "SerialClient",
    "SerialLike",
    "SlotState",
    "Status",
    "StreamSplitter",
    "Telemetry",
    "cobs_decode",
    "cobs_encode",
    "encode_frame",
    "parse_body",
]

MARKER = 0xF1
MAX_PAYLOAD = 1024
OTA_BEGIN_SIZE = 224  # device.bin (160) + device.sig (64)
REPLY = 0x80  # bit 7 of a reply's type
_MAX_LINES = 1000
_MAX_WIRE = MAX_PAYLOAD + 8 + (MAX_PAYLOAD + 8) // 254 + 3


class MsgType(enum.IntEnum):
    INFO = 0x01
    INFER = 0x02
    OTA_BEGIN = 0x03
    OTA_CHUNK = 0x04
    OTA_COMMIT = 0x05
    CONFIRM = 0x06
    TELEMETRY = 0x07
    RESET = 0x08


class Status(enum.IntEnum):
    OK = 0x00
    UNKNOWN_TYPE = 0x01
    BAD_LENGTH = 0x02
    NO_MODEL = 0x03
    STATE = 0x04
    MANIFEST = 0x05
    OFFSET = 0x06
    FLASH = 0x07
    HASH = 0x08
    SIGNATURE = 0x09
    ROLLBACK = 0x0A
    NO_KEY = 0x0B
    MODEL = 0x0C
    SELFTEST = 0x0D
    NOT_TRIAL = 0x0E
    TOO_LARGE = 0x0F
    INFER = 0x10


_STATUS_TEXT = {
    Status.UNKNOWN_TYPE: "unknown request type",
    Status.BAD_LENGTH: "malformed request",
    Status.NO_MODEL: "no model is running",
    Status.STATE: "not possible in the current state (no OTA session, or a trial awaits CONFIRM)",
    Status.MANIFEST: "device manifest is malformed",
    Status.OFFSET: "chunk offset or transfer length mismatch",
    Status.FLASH: "flash write failed",
    Status.HASH: "model or golden sha256 differs from the manifest",
    Status.SIGNATURE: "manifest signature is not valid for the device's key",
    Status.ROLLBACK: "security counter is lower than the device's (anti-rollback)",
    Status.NO_KEY: "device has no public key; OTA refused",
    Status.MODEL: "runtime refused the model",
    Status.SELFTEST: "golden self-test failed",
    Status.NOT_TRIAL: "no model on trial to confirm",
    Status.TOO_LARGE: "payload too large for a slot or a frame",
    Status.INFER: "inference failed",
}


class SlotState(enum.IntEnum):
    EMPTY = 0
    RECEIVING = 1
    PENDING = 2
    TRIAL = 3
    CONFIRMED = 4
    INACTIVE = 5
    REJECTED = 6


class BootEvent(enum.IntFlag):
    TRIAL = 0x01
    REVERTED = 0x02
    SELFTEST_FAILED = 0x04
    INVALID = 0x08


class DeviceStatusError(DeviceError):
    """The device answered a request with a status other than OK."""

    def __init__(self, request: MsgType, status: int) -> None:
        self.request = request
        try:
            self.status: Status | int = Status(status)
            text = _STATUS_TEXT.get(Status(status), "error")
            name = Status(status).name
        except ValueError:
            self.status, text, name = status, "unknown status", f"0x{status:02x}"
        super().__init__(f"device refused {request.name}: {name} ({text})")


# ---- COBS and frames ----


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result has no 0x00 (same output as the firmware)."""
    out = bytearray([0])
    code_at, code = 0, 1
    for i, byte in enumerate(data):
        if byte == 0:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
            continue
        out.append(byte)
        code += 1
        if code == 0xFF:
            out[code_at] = code
            code = 1
            if i + 1 == len(data):
                return bytes(out)
            code_at = len(out)
            out.append(0)
    out[code_at] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode`; raises DeviceError on malformed input."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise DeviceError("COBS: 0x00 inside a frame")
        i += 1
        run = data[i : i + code - 1]
        if len(run) != code - 1 or 0 in run:
            raise DeviceError("COBS: code byte runs past the end of the frame")
        out += run
        i += code - 1
        if code != 255 and i < len(data):
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    type: int
    req_id: int
    payload: bytes


def encode_frame(msg_type: int, req_id: int, payload: bytes = b"") -> bytes:
    """A complete frame for the wire, with both 0x00 delimiters."""
    if len(payload) > MAX_PAYLOAD:
        raise DeviceError(f"frame payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = struct.pack("<BBH", MARKER, msg_type, req_id & 0xFFFF) + payload
    body += struct.pack("<I", zlib.crc32(body))
    return b"\x00" + cobs_encode(body) + b"\x00"


def parse_body(body: bytes) -> Frame:
    """Check a COBS-decoded body (marker, length, CRC) and split it."""
    if len(body) < 8:
        raise DeviceError("frame too short")
    if body[0] != MARKER:
        raise DeviceError("frame marker is wrong")
    if len(body) - 8 > MAX_PAYLOAD:
        raise DeviceError("frame payload too long")
    (crc,) = struct.unpack_from("<I", body, len(body) - 4)
    if zlib.crc32(body[:-4]) != crc:
        raise DeviceError("frame CRC mismatch")
    return Frame(body[1], struct.unpack_from("<H", body, 2)[0], bytes(body[4:-4]))


class StreamSplitter:
    """Splits the device's byte stream into frames and text lines (the device's own rules).

    Outside a frame, 0x00 opens one and other bytes are text, delivered per line (CR LF or LF).
    Inside, bytes up to the next 0x00 are a frame; a frame that fails its checks is dropped
    (counted in ``bad_frames``) and its closing 0x00 opens the next one.
    """

    def __init__(self) -> None:
        self._in_frame = False
        self._buf = bytearray()
        self._text = bytearray()
        self.bad_frames = 0

    def feed(self, data: bytes) -> Iterator[Frame | str]:
        for byte in data:
            if self._in_frame:
                if byte != 0:
                    self._buf.append(byte)
                    if len(self._buf) > _MAX_WIRE:
                        self._in_frame = False
                        self._buf.clear()
                        self.bad_frames += 1
                    continue
                if not self._buf:
                    continue
                wire = bytes(self._buf)
                self._buf.clear()
                try:
                    frame = parse_body(cobs_decode(wire))
                except DeviceError:
                    self.bad_frames += 1
                    continue
                self._in_frame = False
                yield frame
            elif byte == 0:
                self._in_frame = True
                self._buf.clear()
            elif byte == 0x0A:
                line = self._text.decode("ascii", "replace").rstrip("\r")
                self._text.clear()
                if line:
                    yield line
            else:
                self._text.append(byte)


# ---- messages ----


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


@dataclass(frozen=True)
class Info:
    """INFO reply (172 bytes after the status)."""

    protocol: int
    model_running: bool
    on_trial: bool
    selftest_passed: bool
    has_key: bool
    ota_session: bool
    boot_events: BootEvent
    running_slot: int
    slot_states: tuple[SlotState, SlotState]
    security_counter: int
    slot_capacity: int
    arena_size: int
    arena_used: int
    tick_hz: int
    ota_next: int
    ota_total: int
    device_id: str
    firmware_version: str
    model_name: str
    model_version: tuple[int, int, int]
    model_security_counter: int
    model_sha256: bytes
    input_bytes: int
    output_bytes: int
    model_size: int

    SIZE = 172
    _LAYOUT = struct.Struct("<BBBbBBHIIIIIII32s16s32s3HHI32sIII")

    @classmethod
    def parse(cls, data: bytes) -> Info:
        if len(data) != cls.SIZE:
            raise DeviceError(f"INFO reply has {len(data)} bytes, expected {cls.SIZE}")
        (
            proto,
            flags,
            events,
            slot,
            s0,
            s1,
            _r,
            counter,
            capacity,
            arena,
            used,
            hz,
            nxt,
            total,
            dev,
            fw,
            name,
            vmaj,
            vmin,
            vpat,
            _r2,
            mcounter,
            sha,
            nin,
            nout,
            msize,
        ) = cls._LAYOUT.unpack(data)
        return cls(
            proto,
            bool(flags & 1),
            bool(flags & 2),
            bool(flags & 4),
            bool(flags & 8),
            bool(flags & 16),
            BootEvent(events),
            slot,
            (SlotState(s0), SlotState(s1)),
            counter,
            capacity,
            arena,
            used,
            hz,
            nxt,
            total,
            _cstr(dev),
            _cstr(fw),
            _cstr(name),
            (vmaj, vmin, vpat),
            mcounter,
            sha,
            nin,
            nout,
            msize,
        )

    @property
    def model_version_str(self) -> str:
        return ".".join(str(v) for v in self.model_version)


@dataclass(frozen=True)
class InferResult:
    output: bytes  # int8 values as raw bytes
    ticks: int


@dataclass(frozen=True)
class OtaBegin:
    resume_offset: int
    total: int
    max_chunk: int


@dataclass(frozen=True)
class Telemetry:
    """One telemetry period (layout in docs/serial-protocol.md)."""

    period: int
    period_ticks: int
    inferences: int
    errors: int
    frame_errors: int
    latency_min: int
    latency_max: int
    latency_sum: int
    tick_hz: int
    input_hist: tuple[tuple[int, ...], ...]  # [group][16]
    class_counts: tuple[int, ...]
    confidence_hist: tuple[int, ...]

    @classmethod
    def parse(cls, data: bytes) -> Telemetry:
        if len(data) < 40 or data[0] != 1:
            raise DeviceError("TELEMETRY reply is malformed")
        groups, classes = data[1], data[2]
        need = 40 + 64 * groups + 4 * classes + 64
        if len(data) != need or groups == 0:
            raise DeviceError(f"TELEMETRY reply has {len(data)} bytes, expected {need}")
        period, ticks, n, errors, frame_errors, lmin, lmax, lsum, hz = struct.unpack_from("<9I", data, 4)
        words = struct.unpack_from(f"<{16 * groups + classes + 16}I", data, 40)
        hist = tuple(tuple(words[16 * g : 16 * g + 16]) for g in range(groups))
        cls_counts = tuple(words[16 * groups : 16 * groups + classes])
        conf = tuple(words[16 * groups + classes :])
        return cls(period, ticks, n, errors, frame_errors, lmin, lmax, lsum, hz, hist, cls_counts, conf)

    @property
    def latency_mean(self) -> float:
        return self.latency_sum / self.inferences if self.inferences else 0.0


# ---- client ----


class SerialLike(Protocol):
    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...


class SerialClient:
    """Requests to a device over a pyserial-like port.

    ``port.read(n)`` may return fewer bytes (or none) after its own timeout; each request here
    has its own deadline (``timeout`` seconds, more for slow requests) and raises DeviceError
    when the reply does not come.
    """

    def __init__(
        self, port: SerialLike, timeout: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._port = port
        self.timeout = timeout
        self._clock = clock
        self._splitter = StreamSplitter()
        self._next_id = 1
        self._pending: list[Frame | str] = []
        self.lines: list[str] = []  # every text line received (the newest _MAX_LINES), e.g. a fault report

    # -- transport --
    def _read_some(self) -> None:
        waiting = getattr(self._port, "in_waiting", 0)
        data = self._port.read(waiting if isinstance(waiting, int) and waiting > 0 else 1)
        if data:
            items = list(self._splitter.feed(data))
            self._pending.extend(items)
            self.lines.extend(x for x in items if isinstance(x, str))
            del self.lines[:-_MAX_LINES]

    def _wait(self, match: Callable[[Frame | str], bool], timeout: float, what: str) -> Frame | str:
        deadline = self._clock() + timeout
        while True:
            for i, item in enumerate(self._pending):
                if match(item):
                    del self._pending[: i + 1]
                    return item
            if self._clock() > deadline:
                raise DeviceError(f"no {what} from the device within {timeout:g} s")
            self._read_some()

    def send(self, msg_type: MsgType, payload: bytes = b"") -> int:
        """Write one request frame without waiting; returns its request id."""
        req_id = self._next_id
        self._next_id = self._next_id % 0xFFFF + 1
        self._port.write(encode_frame(msg_type, req_id, payload))
        return req_id

    def wait_reply(self, msg_type: MsgType, req_id: int, timeout: float | None = None) -> tuple[int, bytes]:
        """The reply to request ``req_id``: (status, payload after the status byte)."""
        item = self._wait(
            lambda x: isinstance(x, Frame) and x.type == (msg_type | REPLY) and x.req_id == req_id,
            self.timeout if timeout is None else timeout,
            f"{msg_type.name} reply",
        )
        assert isinstance(item, Frame)
        if not item.payload:
            raise DeviceError(f"{msg_type.name} reply has no status byte")
        return item.payload[0], item.payload[1:]

    def request(
        self, msg_type: MsgType, payload: bytes = b"", timeout: float | None = None
    ) -> tuple[int, bytes]:
        """Send one request and return (status, reply payload after the status byte)."""
        return self.wait_reply(msg_type, self.send(msg_type, payload), timeout)

    def _checked(self, msg_type: MsgType, payload: bytes = b"", timeout: float | None = None) -> bytes:
        status, data = self.request(msg_type, payload, timeout)
        if status != Status.OK:
            raise DeviceStatusError(msg_type, status)
        return data

    # -- messages --
    def info(self) -> Info:
        return Info.parse(self._checked(MsgType.INFO))

    def infer(self, x: bytes, timeout: float | None = None) -> InferResult:
        """Stage the int8 input (in pieces when large) and run one inference."""
        step = MAX_PAYLOAD - 5
        if not x:
            raise DeviceError("empty input")
        for off in range(0, len(x), step):
            piece = x[off : off + step]
            last = off + step >= len(x)
            data = self._checked(MsgType.INFER, struct.pack("<IB", off, 1 if last else 0) + piece, timeout)
        ticks, n = struct.unpack_from("<II", data)
        if len(data) != 8 + n:
            raise DeviceError("INFER reply length does not match its output size")
        return InferResult(bytes(data[8:]), ticks)

    def ota_begin(self, device_bin_and_sig: bytes) -> OtaBegin:
        if len(device_bin_and_sig) != OTA_BEGIN_SIZE:
            raise DeviceError(f"OTA_BEGIN needs device.bin + device.sig ({OTA_BEGIN_SIZE} bytes)")
        data = self._checked(MsgType.OTA_BEGIN, device_bin_and_sig, timeout=max(self.timeout, 30.0))
        return OtaBegin(*struct.unpack("<III", data))

    def ota_chunk(self, offset: int, data: bytes) -> int:
        """Write one chunk; returns the next offset the device expects."""
        status, reply = self.request(MsgType.OTA_CHUNK, struct.pack("<I", offset) + data)
        if status != Status.OK:
            raise DeviceStatusError(MsgType.OTA_CHUNK, status)
        return int(struct.unpack("<I", reply)[0])

    # -- OtaPort (tinyfleet.ota_session) --
    def ota_start(self, header: bytes) -> OtaStart:
        begin = self.ota_begin(header)
        return OtaStart(begin.resume_offset, begin.total, min(begin.max_chunk, MAX_PAYLOAD - 4))

    def send_chunk(self, offset: int, data: bytes) -> object:
        return self.send(MsgType.OTA_CHUNK, struct.pack("<I", offset) + data)

    def await_chunk(self, ticket: object) -> int:
        assert isinstance(ticket, int)
        status, reply = self.wait_reply(MsgType.OTA_CHUNK, ticket, max(self.timeout, 30.0))
        if len(reply) != 4:
            raise DeviceError("OTA_CHUNK reply without the next offset")
        if status not in (Status.OK, Status.OFFSET):
            raise DeviceStatusError(MsgType.OTA_CHUNK, status)
        return int(struct.unpack("<I", reply)[0])

    def ota_commit(self) -> None:
        self._checked(MsgType.OTA_COMMIT, timeout=max(self.timeout, 30.0))

    def confirm(self) -> None:
        self._checked(MsgType.CONFIRM)

    def reset(self) -> None:
        self._checked(MsgType.RESET)

    def telemetry(self, new_period: bool = False, groups: int = 0) -> Telemetry:
        """Read the current period; ``new_period`` starts the next one (``groups`` > 0 sets G)."""
        if not 0 <= groups <= 8:
            raise DeviceError("telemetry groups must be 0..8")
        return Telemetry.parse(self._checked(MsgType.TELEMETRY, bytes([1 if new_period else 0, groups])))

    def send_model(
        self,
        device_bin_and_sig: bytes,
        payload: bytes,
        progress: Callable[[int, int], None] | None = None,
        *,
        window: int = DEFAULT_WINDOW,
        resumes: int = 0,
    ) -> int:
        """OTA (tinyfleet.ota_session.run_ota): BEGIN, pipelined chunks from the offset the device
        reports, COMMIT. Returns the offset the transfer started from."""
        return self.send_model_session(
            device_bin_and_sig, payload, progress, window=window, resumes=resumes
        ).started_at

    def send_model_session(
        self,
        device_bin_and_sig: bytes,
        payload: bytes,
        progress: Callable[[int, int], None] | None = None,
        *,
        window: int = DEFAULT_WINDOW,
        resumes: int = 0,
    ) -> OtaResult:
        """:meth:`send_model` with the whole result (start offset, resumes after link errors)."""
        return run_ota(
            self,
            device_bin_and_sig,
            payload,
            final=(DeviceStatusError,),
            window=window,
            resumes=resumes,
            progress=progress,
        )

    def text(self, command: str, timeout: float | None = None) -> list[str]:
        """Send an EEMBC text command (without '%') and return its lines up to ``m-ready``."""
        if "%" in command or "\0" in command or len(command) > 80:
            raise DeviceError("EEMBC commands are at most 80 characters without '%' or NUL")
        self._port.write(command.encode("ascii") + b"%")
        lines: list[str] = []
        while True:
            item = self._wait(
                lambda x: isinstance(x, str), self.timeout if timeout is None else timeout, "text"
            )
            assert isinstance(item, str)
            if item == "m-ready":
                return lines
            lines.append(item)
