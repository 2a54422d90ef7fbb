"""The board end to end over its UART: boot, INFO, bit-exact inference, model OTA, power cuts,
refused updates and reverts. Runs on the emulated board (default) or a real one (--hil-port)."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from tinyfleet.hil.device import BoardLink
from tinyfleet.hil.plugin import HilBoard
from tinyfleet.ota_session import DEFAULT_CHUNK, DEFAULT_WINDOW
from tinyfleet.package import read_package
from tinyfleet.serialproto import DeviceStatusError, MsgType, SlotState

pytestmark = pytest.mark.qemu


def _active(link: BoardLink) -> tuple[str, str] | None:
    info = link.info()
    return (info.model_name, info.model_version_str) if info.model_name else None


def _check_digits(link: BoardLink, digits: dict, n: int | None = None) -> None:
    x, y = digits["x"], digits["y"]
    for i in range(len(x) if n is None else n):
        out, ticks = link.infer(x[i].tobytes())
        assert np.array_equal(np.frombuffer(out, dtype=np.int8), y[i]), f"input {i} differs from TFLM"
        assert ticks > 0


def test_boot_and_info(board: HilBoard, link: BoardLink) -> None:
    info = link.info()
    if board.emulated:
        assert info.device_id == "hil-board"
        assert f"tinyfleet {board.name} id=hil-board flash=file" in link.lines  # the port's boot banner
        assert 400_000 < info.slot_capacity <= 458752  # a 448 KiB slot minus its header sector
        assert info.arena_size == 196608  # boards.toml arena_budget
    assert info.firmware_version
    assert info.model_name == "" and not info.model_running  # a fresh board has no model
    assert info.slot_states == (SlotState.EMPTY, SlotState.EMPTY)
    assert info.has_key


def test_digits_bitexact_after_ota(link: BoardLink, digits: dict) -> None:
    link.install(digits["package"])
    assert _active(link) == ("digits", "1.0.0")
    _check_digits(link, digits)


def test_ota_new_model_replaces_old(link: BoardLink, digits: dict, digits_release) -> None:
    link.install(digits["package"])
    link.install(digits_release("1.1.0", 2))
    assert _active(link) == ("digits", "1.1.0")
    _check_digits(link, digits, n=2)


def test_power_cut_mid_transfer_keeps_old_model_and_resumes(
    board: HilBoard, link: BoardLink, digits: dict, digits_release
) -> None:
    board.require_power_control()
    link.install(digits["package"])
    new = digits_release("1.2.0", 3)
    total = link.begin(new).total
    half = link.send_payload(new, 0, total // 2)
    link.close()
    board.power_cut()
    board.power_on()
    with BoardLink.open(board.url) as again:
        again.wait_ready()
        assert _active(again) == ("digits", "1.0.0")  # the old model still serves
        _check_digits(again, digits, n=2)
        resume = again.begin(new)  # the same OTA_BEGIN resumes where the flash got to
        assert 0 < resume.resume_offset <= half
        again.send_payload(new, resume.resume_offset, total)
        again.commit_and_boot(expect=("digits", "1.2.0"))
        assert _active(again) == ("digits", "1.2.0")
        _check_digits(again, digits, n=2)


def test_power_cut_with_chunks_in_flight_resumes(
    board: HilBoard, link: BoardLink, digits: dict, digits_release
) -> None:
    """The pipelined OTA (a window of chunks sent before their replies): power lost with a window
    in flight; the old model still serves and the same session resumes where the flash got to."""
    board.require_power_control()
    link.install(digits["package"])
    new = digits_release("1.4.0", 5)
    payload = link.payload_of(new)
    total = link.begin(new).total
    done = link.send_bytes(payload, 0, total // 2)
    for off in range(done, min(done + DEFAULT_WINDOW * DEFAULT_CHUNK, total), DEFAULT_CHUNK):
        link.send(MsgType.OTA_CHUNK, struct.pack("<I", off) + payload[off : off + DEFAULT_CHUNK])
    link.close()
    board.power_cut()
    board.power_on()
    with BoardLink.open(board.url) as again:
        again.wait_ready()
        assert _active(again) == ("digits", "1.0.0")
        sent = again.install(new)
        assert 0 < sent < total  # resumed from the last durable offset, not restarted
        assert _active(again) == ("digits", "1.4.0")
        _check_digits(again, digits, n=2)


@pytest.mark.parametrize("delay_ms", [0, 10, 60])
def test_power_cut_mid_commit_leaves_a_working_model(
    board: HilBoard, link: BoardLink, digits: dict, digits_release, delay_ms: int
) -> None:
    board.require_power_control()
    link.install(digits["package"])
    new = digits_release("1.3.0", 4)
    total = link.begin(new).total
    link.send_payload(new, 0, total)
    link.send_commit_no_wait()
    time.sleep(delay_ms / 1000)
    link.close()
    board.power_cut()
    board.power_on()
    with BoardLink.open(board.url) as again:
        again.wait_ready()
        info = again.info()
        active = (info.model_name, info.model_version_str)
        assert active in {("digits", "1.0.0"), ("digits", "1.3.0")}
        _check_digits(again, digits, n=2)
        # whatever the cut left, the update can be completed: a committed one boots as a trial
        if info.on_trial:
            assert active == ("digits", "1.3.0")
            again.confirm()
        else:
            again.install(new)
        assert _active(again) == ("digits", "1.3.0")
        assert not again.info().on_trial


def test_bad_signature_is_refused(link: BoardLink, digits: dict, digits_release) -> None:
    link.install(digits["package"])
    new = bytearray(digits_release("1.4.0", 5))
    header = link.header_of(bytes(new))
    bad_header = header[:-1] + bytes([header[-1] ^ 0x01])  # last byte of device.sig
    with pytest.raises(DeviceStatusError):
        link.begin_raw(bad_header)
        link.send_payload(bytes(new), 0, len(link.payload_of(bytes(new))))
        link.commit_and_boot()
    assert _active(link) == ("digits", "1.0.0")
    _check_digits(link, digits, n=1)


def test_tampered_chunk_is_refused(link: BoardLink, digits: dict, digits_release) -> None:
    link.install(digits["package"])
    new = digits_release("1.5.0", 6)
    total = link.begin(new).total
    payload = bytearray(link.payload_of(new))
    payload[len(payload) // 3] ^= 0x40
    link.send_bytes(bytes(payload), 0, total)
    with pytest.raises(DeviceStatusError):
        link.commit_and_boot()
    assert _active(link) == ("digits", "1.0.0")
    _check_digits(link, digits, n=1)


def test_lower_security_counter_is_refused(link: BoardLink, digits: dict, digits_release) -> None:
    link.install(digits_release("2.0.0", 10))
    with pytest.raises(DeviceStatusError):
        link.install(digits_release("2.0.1", 9))
    assert _active(link) == ("digits", "2.0.0")


def test_failing_selftest_reverts(link: BoardLink, digits: dict, digits_release) -> None:
    link.install(digits["package"])
    with pytest.raises(DeviceStatusError):
        link.install(digits_release("1.6.0", 7, failing_selftest=True))
    assert _active(link) == ("digits", "1.0.0")
    _check_digits(link, digits, n=2)


def test_corrupt_models_never_crash_the_board(link: BoardLink, digits: dict, signing_key) -> None:
    """Validly signed but damaged models (the signature only proves who sent them): the board
    refuses them or, when the damage happens to leave a working model, runs it only after its
    golden self-test passed; it never faults, hangs or stops answering."""
    from tinyfleet.hil.packaging import make_package

    link.install(digits["package"])
    tflite = digits["tflite"]
    rng = np.random.default_rng(3)
    damaged: list[bytes] = []
    for region in (64, 512, len(tflite)):  # flatbuffer root and vtables, tables, anywhere
        flipped = bytearray(tflite)
        for pos in rng.integers(0, region, size=12):
            flipped[int(pos)] = int(rng.integers(0, 256))
        damaged.append(bytes(flipped))
    damaged.append(bytes(tflite[: len(tflite) // 2]))  # truncated
    refused = 0
    for i, bad in enumerate(damaged):
        version = f"1.7.{i}"
        pkg = make_package(
            bad,
            signing_key,
            digits["x"][:1],
            golden_outputs=digits["y"][:1],
            name="digits",
            version=version,
            security_counter=1,
            describe_as=tflite,
        )
        try:
            link.install(pkg)
        except DeviceStatusError:
            refused += 1
        info = link.info()  # still answering
        assert (info.model_name, info.model_version_str) in {("digits", "1.0.0"), ("digits", version)}
        if info.model_version_str == version:  # accepted: then its self-test matched TFLM's outputs
            _check_digits(link, digits, n=1)
        assert not link.panicked, "the board faulted and reset itself"
    assert refused >= 2  # at least the truncated model and the damaged root are refused
    _check_digits(link, digits, n=1)


def test_package_reader_agrees_with_board(link: BoardLink, digits: dict, digits_package) -> None:
    link.install(digits["package"])
    pkg = read_package(digits_package.package_path, digits_package.trusted_keys)
    assert link.info().model_sha256 == pkg.device_manifest.model_sha256


def test_flash_file_holds_the_installed_model_after_a_power_cut(
    board: HilBoard, link: BoardLink, digits: dict
) -> None:
    """The emulated flash is a host file written through on every program/erase (the port's
    semihosting HAL): after a power cut the file holds the header and payload the OTA wrote."""
    qemu = board.require_power_control()
    link.install(digits["package"])
    header, payload = link.header_of(digits["package"]), link.payload_of(digits["package"])
    link.close()
    board.power_cut()
    flash = qemu.read_flash()
    layout = qemu.layout
    assert len(flash) == layout.store_bytes
    slot_a = flash[layout.state_sectors * layout.sector_bytes :][: layout.slot_bytes]
    assert slot_a.startswith(header)  # device.bin + device.sig in the slot's header sector
    assert slot_a[layout.sector_bytes : layout.sector_bytes + len(payload)] == payload
