"""What the gateway needs from a microcontroller, and resumable OTA streaming over it.

:class:`McuLink` is the gateway's view of one MCU (blocking calls; the gateway runs them on a
worker thread, one at a time per MCU). ``serial_link.py`` implements it over the serial frame
protocol (``tinyfleet/serialproto.py``, docs/serial-protocol.md), for the emulated board and real
boards alike.

OTA (firmware/docs/ota.md): ``ota_begin(device.bin + device.sig)`` opens (or resumes) a receiving
session in the inactive slot and returns how many payload bytes the MCU already holds for that very
header; ``ota_chunk`` writes at an offset; ``ota_commit`` makes the MCU check both digests, the
signature and its security counter and mark the slot pending. ``activate`` reboots into the pending
slot as a trial (MCUboot TEST): the firmware runs the golden self-test and reverts by itself when
it fails. ``confirm`` makes the trial permanent; ``revert`` goes back to the previous slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tinyfleet.errors import DeviceError
from tinyfleet.ota_session import DEFAULT_WINDOW, OtaPort, OtaStart, run_ota
from tinyfleet.serialproto import DeviceStatusError

__all__ = ["McuInfo", "McuLink", "McuModel", "McuRefused", "McuTelemetry", "PipelinedOta", "stream_ota"]


class McuRefused(DeviceError):
    """The MCU answered with an error status (bad signature, digest, counter, no space): final."""


@dataclass(frozen=True)
class McuModel:
    name: str
    version: str
    security_counter: int
    sha256: str = ""  # package digest, when the gateway knows it


@dataclass(frozen=True)
class McuInfo:
    board: str
    firmware: str
    active: McuModel | None
    trial: bool  # the active model runs as an unconfirmed trial
    security_counter: int  # the MCU's anti-rollback floor
    input_bytes: int = 0
    output_bytes: int = 0
    slots: dict[str, str] = field(
        default_factory=dict
    )  # "a"/"b" -> empty|writing|pending|trial|confirmed|failed
    last_selftest: str = ""  # what the firmware says about the last golden self-test
    selftest_ok: bool = True  # the running model passed its golden self-test (meaningful on trial)


@dataclass(frozen=True)
class McuTelemetry:
    n: int
    err: int
    lat_p50_us: float
    lat_p95_us: float
    input_hist: list[list[int]]
    cls: list[int]
    conf: list[int]


class McuLink(Protocol):
    def info(self) -> McuInfo: ...
    def infer(self, x: bytes) -> bytes: ...
    def ota_begin(self, header: bytes) -> int: ...
    def ota_chunk(self, offset: int, data: bytes) -> None: ...
    def ota_commit(self) -> None: ...
    def activate(self) -> McuInfo: ...
    def confirm(self) -> None: ...
    def revert(self) -> McuInfo: ...
    def telemetry(self) -> McuTelemetry | None: ...
    def close(self) -> None: ...


@runtime_checkable
class PipelinedOta(Protocol):
    """A link that streams OTA chunks itself (the serial link: a window of chunks in flight)."""

    def ota_port(self) -> OtaPort: ...


class _OneChunkAtATime:
    """An :class:`McuLink`'s blocking calls as an :class:`OtaPort` (a window of one chunk)."""

    def __init__(self, link: McuLink) -> None:
        self.link = link

    def ota_start(self, header: bytes) -> OtaStart:
        return OtaStart(self.link.ota_begin(header))

    def send_chunk(self, offset: int, data: bytes) -> object:
        self.link.ota_chunk(offset, data)
        return offset + len(data)

    def await_chunk(self, ticket: object) -> int:
        assert isinstance(ticket, int)
        return ticket

    def ota_commit(self) -> None:
        self.link.ota_commit()


def stream_ota(
    link: McuLink,
    header: bytes,
    payload: bytes,
    chunk: int = 768,
    progress: Callable[[int, int], None] | None = None,
    resumes: int = 5,
) -> int:
    """Write ``payload`` into the MCU's inactive slot and commit it, resuming after link errors;
    returns the resumes used. The session is the protocol's one (``tinyfleet.ota_session.run_ota``):
    after an error it is opened again with the same header and the MCU says where to go on. A
    refusal by the MCU is raised as :class:`McuRefused`.
    """
    port = link.ota_port() if isinstance(link, PipelinedOta) else _OneChunkAtATime(link)
    try:
        result = run_ota(
            port,
            header,
            payload,
            final=(McuRefused, DeviceStatusError),
            chunk=chunk,
            window=DEFAULT_WINDOW,
            resumes=resumes,
            progress=progress,
        )
    except DeviceStatusError as exc:
        raise McuRefused(str(exc)) from None
    return result.resumes
