"""tinyfleet.serialproto: COBS, frames, the stream splitter, message codecs, the client."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyfleet import serialproto as sp
from tinyfleet.errors import DeviceError


def test_exports_exist() -> None:
    # the order is the exports test's (tests/contract): constants first, then classes and functions
    assert all(hasattr(sp, name) for name in sp.__all__)


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
        (bytes(range(1, 255)) + b"\x00", b"\xff" + bytes(range(1, 255)) + b"\x01\x01"),
        (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    ],
)
def test_cobs_known_vectors(raw: bytes, encoded: bytes) -> None:
    assert sp.cobs_encode(raw) == encoded
    assert sp.cobs_decode(encoded) == raw


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1100))
def test_cobs_roundtrip_has_no_zero(data: bytes) -> None:
    enc = sp.cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert sp.cobs_decode(enc) == data


@pytest.mark.parametrize("bad", [b"\x03\x11\x00", b"\x05\x11\x22", b"\x00"])
def test_cobs_decode_refuses_malformed(bad: bytes) -> None:
    with pytest.raises(DeviceError):
        sp.cobs_decode(bad)


def test_frame_layout() -> None:
    wire = sp.encode_frame(sp.MsgType.INFER, 0xBEEF, b"\x01\x00\x02")
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    body = sp.cobs_decode(wire[1:-1])
    assert body[:4] == bytes([0xF1, 0x02, 0xEF, 0xBE])
    assert body[4:7] == b"\x01\x00\x02"
    assert struct.unpack("<I", body[7:])[0] == zlib.crc32(body[:7])
    assert sp.parse_body(body) == sp.Frame(0x02, 0xBEEF, b"\x01\x00\x02")
    with pytest.raises(DeviceError, match="CRC"):
        sp.parse_body(body[:5] + b"\x7f" + body[6:])
    with pytest.raises(DeviceError, match="payload"):
        sp.encode_frame(1, 1, bytes(sp.MAX_PAYLOAD + 1))


def test_splitter_frames_text_and_resync() -> None:
    split = sp.StreamSplitter()
    a = sp.encode_frame(0x81, 1, b"\x00ok")
    b = sp.encode_frame(0x82, 2, b"\x00")
    items = list(split.feed(b"m-name-dut-[tinyfleet]\r\n" + a + b"m-ready\r\n" + b))
    assert items == [
        "m-name-dut-[tinyfleet]",
        sp.Frame(0x81, 1, b"\x00ok"),
        "m-ready",
        sp.Frame(0x82, 2, b"\x00"),
    ]
    # a frame cut short: the next frame is still found, the broken one is counted
    items = list(split.feed(a[: len(a) // 2] + b))
    assert items == [sp.Frame(0x82, 2, b"\x00")] and split.bad_frames == 1


def _info_bytes() -> bytes:
    return struct.pack(
        "<BBBbBBHIIIIIII32s16s32s3HHI32sIII",
        1,
        0x0F,
        0x01,
        1,
        4,
        3,
        0,
        5,
        490000,
        131072,
        2048,
        25000000,
        0,
        0,
        b"qemu-1".ljust(32, b"\0"),
        b"0.1.0".ljust(16, b"\0"),
        b"kws".ljust(32, b"\0"),
        1,
        2,
        3,
        0,
        6,
        bytes(range(32)),
        490,
        12,
        53000,
    )


def test_info_parse() -> None:
    info = sp.Info.parse(_info_bytes())
    assert info.model_running and info.on_trial and info.selftest_passed and info.has_key
    assert not info.ota_session
    assert info.boot_events == sp.BootEvent.TRIAL
    assert info.slot_states == (sp.SlotState.CONFIRMED, sp.SlotState.TRIAL)
    assert (info.device_id, info.firmware_version, info.model_name) == ("qemu-1", "0.1.0", "kws")
    assert info.model_version_str == "1.2.3" and info.model_sha256 == bytes(range(32))
    assert (info.input_bytes, info.output_bytes, info.arena_used) == (490, 12, 2048)
    with pytest.raises(DeviceError):
        sp.Info.parse(_info_bytes()[:-1])


def test_telemetry_parse() -> None:
    hist = list(range(16)) + list(range(16, 32))
    data = bytes([1, 2, 3, 0]) + struct.pack("<9I", 4, 1000, 7, 1, 2, 10, 30, 140, 25000000)
    data += struct.pack("<32I", *hist) + struct.pack("<3I", 5, 0, 2) + struct.pack("<16I", *([0] * 15 + [7]))
    tm = sp.Telemetry.parse(data)
    assert tm.period == 4 and tm.inferences == 7 and tm.latency_mean == 20.0
    assert tm.input_hist[1][0] == 16 and tm.class_counts == (5, 0, 2) and tm.confidence_hist[15] == 7
    with pytest.raises(DeviceError):
        sp.Telemetry.parse(data[:-4])


class ScriptedPort:
    """A port whose device answers each request frame with a scripted reply."""

    def __init__(self, answer: dict[int, list[tuple[int, bytes]]]) -> None:
        self.answer = answer
        self.rx = bytearray()
        self.sent: list[sp.Frame] = []
        self._split = sp.StreamSplitter()

    def write(self, data: bytes) -> int:
        for item in self._split.feed(data):
            assert isinstance(item, sp.Frame)
            self.sent.append(item)
            status, payload = self.answer[item.type].pop(0)
            self.rx += sp.encode_frame(item.type | 0x80, item.req_id, bytes([status]) + payload)
        return len(data)

    def read(self, size: int = 1) -> bytes:
        out, self.rx = bytes(self.rx[:size]), self.rx[size:]
        return out


def test_client_status_errors_and_timeout() -> None:
    port = ScriptedPort({sp.MsgType.CONFIRM: [(sp.Status.NOT_TRIAL, b"")]})
    client = sp.SerialClient(port, timeout=0.2)
    with pytest.raises(sp.DeviceStatusError, match="NOT_TRIAL") as err:
        client.confirm()
    assert err.value.status == sp.Status.NOT_TRIAL
    with pytest.raises(DeviceError, match="no INFO reply"):
        sp.SerialClient(_Silent(), timeout=0.05).info()


class _Silent:
    def write(self, data: bytes) -> int:
        return len(data)

    def read(self, size: int = 1) -> bytes:
        return b""


def test_send_model_follows_the_device_offset() -> None:
    """Pipelined chunks: the device drops the first chunk (as if its bytes were lost) and refuses the
    ones in flight behind it with the offset it expects; the session goes back and nothing is
    written twice or skipped."""
    payload = bytes(range(256)) * 10  # 2560 bytes
    chunks: list[tuple[int, bytes]] = []
    pos = [1024]

    class Device(ScriptedPort):
        def write(self, data: bytes) -> int:
            for item in self._split.feed(data):
                assert isinstance(item, sp.Frame)
                if item.type == sp.MsgType.OTA_BEGIN:
                    reply = bytes([0]) + struct.pack("<III", pos[0], len(payload), 1008)
                elif item.type == sp.MsgType.OTA_CHUNK:
                    (off,) = struct.unpack_from("<I", item.payload)
                    data_ = item.payload[4:]
                    if off == pos[0] and (chunks or off != 1024):
                        chunks.append((off, data_))
                        pos[0] = off + len(data_)
                        reply = bytes([0]) + struct.pack("<I", pos[0])
                    else:  # the first chunk is lost once; every chunk out of order is refused
                        if off == 1024:
                            chunks.append((-1, b""))
                        reply = bytes([sp.Status.OFFSET]) + struct.pack("<I", pos[0])
                else:
                    reply = b"\x00"
                self.rx += sp.encode_frame(item.type | 0x80, item.req_id, reply)
            return len(data)

    seen: list[int] = []
    start = sp.SerialClient(Device({}), timeout=1).send_model(
        bytes(224), payload, lambda a, b: seen.append(a)
    )
    assert start == 1024
    got = [c for c in chunks if c[0] >= 0]
    assert got[0][0] == 1024 and b"".join(d for _, d in got) == payload[1024:]
    assert seen[-1] == len(payload)
    with pytest.raises(DeviceError, match="224"):
        sp.SerialClient(_Silent()).ota_begin(bytes(10))
