"""SerialClient against the real device application (firmware/core) built for the host.

`firmware/tests/core_host_device.c` runs the C application with stdin/stdout as its UART and a
memory-mapped file as its flash; killing the process is a power cut. Its model runtime is the
fake of the C tests (the micro runtime has its own tests), so packages here carry "FAKE" models
built and signed like the C fixtures (firmware/tests/gen_core_fixtures.py).
"""

from __future__ import annotations

import importlib.util
import os
import select
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tinyfleet import serialproto as sp
from tinyfleet.ota_session import DEFAULT_CHUNK, DEFAULT_WINDOW

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


def _fixtures_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_core_fixtures", FIRMWARE / "tests" / "gen_core_fixtures.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


FX = _fixtures_module()


@pytest.fixture(scope="session")
def device_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "a C compiler is needed to build the host device"
    out = tmp_path_factory.mktemp("hostdev") / "core_host_device"
    sources = sorted(str(p) for p in (FIRMWARE / "core" / "src").glob("*.c"))
    subprocess.run(
        [
            cc,
            "-std=c11",
            "-O1",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{FIRMWARE / 'core' / 'include'}",
            f"-I{FIRMWARE / 'core' / 'src'}",
            f"-I{FIRMWARE / 'third_party' / 'monocypher'}",
            str(FIRMWARE / "tests" / "core_host_device.c"),
            *sources,
            str(FIRMWARE / "third_party" / "monocypher" / "monocypher.c"),
            str(FIRMWARE / "third_party" / "monocypher" / "monocypher-ed25519.c"),
            "-o",
            str(out),
            "-lm",
        ],
        check=True,
    )
    return out


class HostDevice:
    """A pyserial-like port over the host device's pipes; restart() is a reset/power cycle."""

    def __init__(self, binary: Path, flash: Path, pubkey: bytes) -> None:
        self._cmd = [str(binary), str(flash), pubkey.hex()]
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self._cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def kill(self) -> None:
        assert self.proc
        self.proc.kill()
        self.proc.wait(5)

    def restart(self) -> None:
        assert self.proc
        try:
            self.proc.wait(5)  # after RESET the device exits by itself
        except subprocess.TimeoutExpired:
            self.kill()
        self.close_pipes()
        self.start()

    def close_pipes(self) -> None:
        assert self.proc and self.proc.stdin and self.proc.stdout
        for pipe in (self.proc.stdin, self.proc.stdout):
            pipe.close()

    def write(self, data: bytes) -> int:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        return len(data)

    def read(self, size: int = 1) -> bytes:
        assert self.proc and self.proc.stdout
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], 0.05)
        return os.read(fd, max(size, 4096)) if ready else b""


@pytest.fixture
def board(device_bin: Path, tmp_path: Path) -> Iterator[HostDevice]:
    dev = HostDevice(device_bin, tmp_path / "flash.bin", FX.public_key_raw(FX.KEY))
    yield dev
    if dev.proc and dev.proc.poll() is None:
        dev.kill()
    dev.close_pipes()


def _fake_output(payload: bytes, x: bytes) -> bytes:
    nin, nout = struct.unpack_from("<II", payload, 4)
    return bytes((x[j % nin] + payload[12 + j]) & 0xFF for j in range(nout))


def test_install_confirm_infer_telemetry(board: HostDevice) -> None:
    begin, payload = FX.package(11, "kws-fake", (2, 0, 1), 9, model_size=2500)
    client = sp.SerialClient(board, timeout=5)
    info = client.info()
    assert (info.device_id, info.has_key, info.model_running) == ("host-0001", True, False)
    assert client.send_model(begin, payload) == 0
    assert client.info().slot_states[0] == sp.SlotState.PENDING
    client.reset()
    board.restart()
    client = sp.SerialClient(board, timeout=5)
    info = client.info()
    assert info.model_running and info.on_trial and info.selftest_passed
    assert info.boot_events == sp.BootEvent.TRIAL
    assert (info.model_name, info.model_version_str, info.model_security_counter) == ("kws-fake", "2.0.1", 9)
    client.confirm()
    info = client.info()
    assert not info.on_trial and info.slot_states[0] == sp.SlotState.CONFIRMED and info.security_counter == 9

    x = bytes(range(100, 116))
    result = client.infer(x)
    assert result.output == _fake_output(payload, x)
    tm = client.telemetry(new_period=True)
    assert tm.inferences == 1 and sum(tm.input_hist[0]) == 16 and sum(tm.class_counts) == 1
    assert client.telemetry().inferences == 0

    assert client.text("name") == ["m-name-dut-[tinyfleet]"]
    assert client.text("profile")[1] == "m-model-[kws01]"
    assert client.text("db load 16") == ["m-[Expecting 16 bytes]"]
    assert client.text("db " + x.hex()) == ["m-load-done"]
    lines = client.text("infer 2 1")
    assert (
        lines[0] == "m-warmup-start-1" and lines[-2] == "m-infer-done" and lines[-1].startswith("m-results-[")
    )


def test_power_cut_mid_transfer_resumes(board: HostDevice) -> None:
    begin, payload = FX.package(12, "digits", (1, 0, 0), 3, model_size=4000)
    client = sp.SerialClient(board, timeout=5)
    sent: list[int] = []

    def cut_after_three(pos: int, total: int) -> None:
        sent.append(pos)
        if len(sent) == 3:
            board.kill()  # power lost with three chunks written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.send_model(begin, payload, cut_after_three)
    board.restart()
    client = sp.SerialClient(board, timeout=5)
    info = client.info()
    assert not info.model_running and info.slot_states[0] == sp.SlotState.RECEIVING
    resumed = client.send_model(begin, payload)
    # chunks are pipelined: up to a window beyond the third acknowledged one may have been written
    assert 0 < resumed <= sent[-1] + DEFAULT_WINDOW * DEFAULT_CHUNK and resumed % 1024 == 0
    client.reset()
    board.restart()
    client = sp.SerialClient(board, timeout=5)
    assert client.info().selftest_passed


def test_refusals_reach_the_host_as_status(board: HostDevice) -> None:
    client = sp.SerialClient(board, timeout=5)
    other_begin, other_payload = FX.package(13, "digits", (1, 0, 0), 3, model_size=300, key=FX.OTHER_KEY)
    with pytest.raises(sp.DeviceStatusError) as err:
        client.send_model(other_begin, other_payload)
    assert err.value.status == sp.Status.SIGNATURE
    begin, payload = FX.package(14, "digits", (1, 0, 0), 3, model_size=300)
    tampered = payload[:100] + bytes([payload[100] ^ 1]) + payload[101:]
    with pytest.raises(sp.DeviceStatusError) as err:
        client.send_model(begin, tampered)
    assert err.value.status == sp.Status.HASH
    with pytest.raises(sp.DeviceStatusError) as err:
        client.confirm()
    assert err.value.status == sp.Status.NO_MODEL


def test_gateway_stream_uses_the_pipelined_session(board: HostDevice) -> None:
    """The gateway's stream_ota over its serial link runs the protocol's one OTA session: several
    chunks are in flight before the first reply is read, and the slot ends PENDING."""
    from tinyfleet.agent.mcu_link import McuRefused, stream_ota
    from tinyfleet.agent.serial_link import SerialLink

    begin, payload = FX.package(15, "digits", (1, 0, 0), 3, model_size=6000)
    streak = [0, 0]  # frames written since the last read, the most seen
    real_write, real_read = board.write, board.read

    def write(data: bytes) -> int:
        streak[0] += 1
        return real_write(data)

    def read(size: int = 1) -> bytes:
        streak[1] = max(streak[1], streak[0])
        streak[0] = 0
        return real_read(size)

    board.write, board.read = write, read  # type: ignore[method-assign]
    client = sp.SerialClient(board, timeout=5)
    link = SerialLink(board, client)
    assert stream_ota(link, begin, payload) == 0
    assert client.info().slot_states[0] == sp.SlotState.PENDING
    assert streak[1] == DEFAULT_WINDOW  # chunks in flight, not one round trip per chunk
    other_begin, other_payload = FX.package(16, "digits", (1, 0, 0), 3, model_size=300, key=FX.OTHER_KEY)
    with pytest.raises(McuRefused):
        stream_ota(link, other_begin, other_payload)
