"""The one OTA session of the device serial protocol: BEGIN, pipelined chunks, COMMIT, resumes.

Every host that updates a microcontroller runs this sequence — the gateway (through
``tinyfleet.agent.mcu_link.stream_ota``), the HIL kit (``tinyfleet.hil.device.BoardLink.install``)
and :meth:`tinyfleet.serialproto.SerialClient.send_model` — over an :class:`OtaPort`:

1. ``begin(header)`` opens the receiving session (device.bin + device.sig) and returns how many
   payload bytes the device already holds for that very header (a resumed transfer);
2. chunks from that offset, up to ``window`` in flight: ``send_chunk`` queues one without waiting,
   ``await_chunk`` waits for the oldest reply and returns the offset the device expects next.
   Replies come back in order (the device handles frames one at a time). When the device expects
   another offset than the one sent (it lost bytes, or restarted), the chunks in flight are drained
   and the stream goes on from the device's offset — nothing is written twice, nothing skipped;
3. ``commit()``: the device checks both digests, the signature and its security counter.

A link error (timeout, damaged reply, reset) opens the session again with the same header, up to
``resumes`` times; the device says where to go on. A refusal by the device (an exception of one of
the ``final`` types) is final and raised at once.

Flow control: the window bounds the bytes in flight. The firmware buffers received bytes in its
UART ring (4 KiB on the ports here) while it writes a chunk to flash, so ``window`` chunks of
``chunk`` bytes (plus ~12 bytes of framing each) must fit that ring: 3 × 1008 does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tinyfleet.errors import DeviceError

__all__ = [
    "DEFAULT_CHUNK",
    "DEFAULT_WINDOW",
    "MAX_OFFSET_FOLLOWS",
    "OtaMismatch",
    "OtaPort",
    "OtaResult",
    "OtaStart",
    "run_ota",
    "send_chunks",
]

DEFAULT_CHUNK = 1008  # the firmware's TF_OTA_MAX_CHUNK (a multiple of 16)
DEFAULT_WINDOW = 3  # chunks in flight: 3 × ~1020 wire bytes fit the firmware's 4 KiB receive ring
MAX_OFFSET_FOLLOWS = 8  # consecutive "go to offset X" answers without progress before giving up


class OtaMismatch(DeviceError):
    """The device expects another payload length than the package has: final, not a link error."""


@dataclass(frozen=True)
class OtaStart:
    resume_offset: int  # payload bytes the device already holds for this header
    total: int = -1  # payload bytes the device expects (-1: the link does not say)
    max_chunk: int = 0  # the largest chunk the device takes (0: the link does not say)


class OtaPort(Protocol):
    """What the session needs from a link to one device."""

    def ota_start(self, header: bytes) -> OtaStart: ...

    def send_chunk(self, offset: int, data: bytes) -> object:
        """Queue one chunk without waiting; returns a ticket for :meth:`await_chunk`."""
        ...

    def await_chunk(self, ticket: object) -> int:
        """The reply to a queued chunk: the offset the device expects next (also when it refused the
        chunk's offset). Raises on any other refusal or a link error."""
        ...

    def ota_commit(self) -> None: ...


@dataclass(frozen=True)
class OtaResult:
    started_at: int  # payload bytes the device already held at the first BEGIN
    resumes: int  # sessions opened again after link errors


def send_chunks(
    port: OtaPort,
    payload: bytes,
    pos: int,
    stop: int | None = None,
    *,
    chunk: int = DEFAULT_CHUNK,
    window: int = DEFAULT_WINDOW,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Step 2 alone: ``payload[pos:stop]`` in pipelined chunks, following the device's offset.
    Returns the offset the device expects next (tests stop early to cut the power mid-transfer)."""
    total = len(payload) if stop is None else min(stop, len(payload))
    expected = pos
    inflight: deque[tuple[object, int]] = deque()
    follows = 0
    while pos < total or inflight:
        while pos < total and len(inflight) < window:
            part = payload[pos : pos + chunk]
            inflight.append((port.send_chunk(pos, part), pos + len(part)))
            pos += len(part)
        ticket, end = inflight.popleft()
        expected = port.await_chunk(ticket)
        if expected != end:
            # the device is elsewhere: the chunks in flight will be refused too; its last word counts
            while inflight:
                expected = port.await_chunk(inflight.popleft()[0])
            if not 0 <= expected <= len(payload):
                raise DeviceError(
                    f"device expects offset {expected}, outside the payload of {len(payload)} bytes"
                )
            follows += 1
            if follows > MAX_OFFSET_FOLLOWS:
                raise DeviceError(f"device keeps asking for offset {expected}: no progress")
            pos = expected
        else:
            follows = 0
        if progress is not None:
            progress(expected, len(payload))
    return expected


def run_ota(
    port: OtaPort,
    header: bytes,
    payload: bytes,
    *,
    final: tuple[type[BaseException], ...],
    chunk: int = DEFAULT_CHUNK,
    window: int = DEFAULT_WINDOW,
    resumes: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> OtaResult:
    """Write ``payload`` into the device's inactive slot and commit it (see the module docstring)."""
    if chunk < 16 or chunk % 16 or window < 1:
        raise ValueError("chunk must be a positive multiple of 16 and window at least 1")
    used = 0
    started_at = -1
    stop: tuple[type[BaseException], ...] = (OtaMismatch, *final)
    while True:
        try:
            start = port.ota_start(header)
            offset = start.resume_offset
            if start.total >= 0 and start.total != len(payload):
                raise OtaMismatch(
                    f"device expects {start.total} payload bytes, the package has {len(payload)}"
                )
            if start.max_chunk:
                chunk = max(16, min(chunk, start.max_chunk) // 16 * 16)
            if not 0 <= offset <= len(payload):
                raise DeviceError(f"device resumed at {offset}, beyond the payload of {len(payload)} bytes")
            if started_at < 0:
                started_at = offset
            send_chunks(port, payload, offset, chunk=chunk, window=window, progress=progress)
            port.ota_commit()
            return OtaResult(started_at, used)
        except stop:
            raise
        except DeviceError:  # the link failed: open the session again, the device says where to go on
            used += 1
            if used > resumes:
                raise
