"""MQTT wire contract between devices and the fleet server (docs/mqtt-protocol.md).

Topics, one folder per device (the device id is also its MQTT username, so the broker ACL
``pattern ... tf/v1/d/%u/...`` confines a device to its own topics)::

    tf/v1/d/{device_id}/state     device → server  retained  DeviceState
    tf/v1/d/{device_id}/desired   server → device  retained  DesiredState
    tf/v1/d/{device_id}/event     device → server  QoS 1     DeviceEvent
    tf/v1/d/{device_id}/hb        device → server  QoS 0     Heartbeat
    tf/v1/d/{device_id}/tm        device → server  QoS 1     Telemetry
    tf/v1/d/{device_id}/online    device → server  retained  b"1" / b"0" (b"0" is the last will)

Payloads are compact JSON objects with ``"v": 1``. ``parse(channel, payload)`` validates size and
schema and raises :class:`WireError`; a receiver counts and drops such messages.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "DEVICE_ID_RE",
    "MAX_BYTES",
    "TOPIC_PREFIX",
    "Channel",
    "DesiredModel",
    "DesiredState",
    "DeviceEvent",
    "DeviceState",
    "EventType",
    "Heartbeat",
    "ModelRef",
    "SlotInfo",
    "Telemetry",
    "WireError",
    "encode",
    "parse",
    "parse_topic",
    "topic",
    "wildcard",
]

TOPIC_PREFIX = "tf/v1/d"
DEVICE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class WireError(ValueError):
    """A message or topic that does not follow the wire contract."""


class Channel(StrEnum):
    STATE = "state"
    DESIRED = "desired"
    EVENT = "event"
    HB = "hb"
    TM = "tm"
    ONLINE = "online"


MAX_BYTES: dict[Channel, int] = {
    Channel.STATE: 4096,
    Channel.DESIRED: 2048,
    Channel.EVENT: 2048,
    Channel.HB: 512,
    Channel.TM: 4096,
    Channel.ONLINE: 1,
}


def topic(device_id: str, channel: Channel | str) -> str:
    if not DEVICE_ID_RE.match(device_id):
        raise WireError(f"invalid device id {device_id!r}")
    return f"{TOPIC_PREFIX}/{device_id}/{Channel(channel).value}"


def wildcard(channel: Channel | str) -> str:
    """Subscription filter for one channel of every device."""
    return f"{TOPIC_PREFIX}/+/{Channel(channel).value}"


def parse_topic(name: str) -> tuple[str, Channel]:
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != TOPIC_PREFIX or not DEVICE_ID_RE.match(parts[3]):
        raise WireError(f"not a tinyfleet device topic: {name[:120]!r}")
    try:
        return parts[3], Channel(parts[4])
    except ValueError:
        raise WireError(f"unknown channel in topic {name[:120]!r}") from None


Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Version = Annotated[str, Field(pattern=r"^\d{1,5}\.\d{1,5}\.\d{1,5}$")]
Counter = Annotated[int, Field(ge=0, le=0xFFFFFFFF)]
Count = Annotated[int, Field(ge=0, le=2**53)]
ShortText = Annotated[str, Field(max_length=200)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    v: Literal[1] = 1


class ModelRef(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    name: Name
    version: Version
    sha256: Sha256Hex  # digest of the model package file
    security_counter: Counter = 0


class SlotInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    slot: Literal["a", "b"]
    state: Literal["empty", "writing", "pending", "trial", "confirmed", "failed"]
    model: ModelRef | None = None


class DeviceState(_Msg):
    device_id: str
    board: Name
    kind: Literal["mcu", "linux", "sim"]
    firmware: Annotated[str, Field(max_length=32)] = ""
    active: ModelRef | None = None
    slots: Annotated[list[SlotInfo], Field(max_length=2)] = []
    runtimes: Annotated[list[Name], Field(max_length=8)] = []
    deployment_id: Annotated[str, Field(max_length=64)] | None = None
    update: Literal[
        "idle", "downloading", "verifying", "installing", "testing", "confirmed", "rolled_back", "failed"
    ] = "idle"
    arena_budget: Count | None = None
    flash_budget: Count | None = None
    ts: float
    seq: Count = 0


class DesiredModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    name: Name
    version: Version
    sha256: Sha256Hex  # package digest = artifact address
    size: Annotated[int, Field(gt=0)]
    security_counter: Counter
    url: Annotated[str, Field(max_length=512)]


class DesiredState(_Msg):
    deployment_id: Annotated[str, Field(min_length=1, max_length=64)]
    rollout_id: Annotated[str, Field(max_length=64)] | None = None
    model: DesiredModel | None = None  # None: keep what you have
    issued_at: float


class EventType(StrEnum):
    DOWNLOAD_STARTED = "download_started"
    DOWNLOAD_PROGRESS = "download_progress"
    DOWNLOADED = "downloaded"
    VERIFY_FAILED = "verify_failed"
    INSTALLED = "installed"
    SELF_TEST_PASSED = "self_test_passed"
    SELF_TEST_FAILED = "self_test_failed"
    ACTIVATED = "activated"
    CONFIRMED = "confirmed"
    ROLLED_BACK = "rolled_back"
    INCOMPATIBLE = "incompatible"
    FAILED = "failed"


class DeviceEvent(_Msg):
    deployment_id: Annotated[str, Field(max_length=64)]
    type: EventType
    model: ModelRef | None = None
    detail: ShortText = ""
    progress: Annotated[float, Field(ge=0, le=1)] | None = None
    ts: float
    seq: Count = 0


class Heartbeat(_Msg):
    ts: float
    uptime_s: Annotated[float, Field(ge=0)] = 0.0
    model_version: Version | None = None


class Telemetry(_Msg):
    ts: float
    period_s: Annotated[float, Field(gt=0, le=86400)]
    model: Version  # active model version the counts belong to
    n: Count  # inferences in the period
    err: Count = 0
    lat_p50_us: Annotated[float, Field(ge=0)] = 0.0
    lat_p95_us: Annotated[float, Field(ge=0)] = 0.0
    input_hist: Annotated[
        list[Annotated[list[Count], Field(min_length=16, max_length=16)]], Field(max_length=16)
    ] = Field(default=[], alias="in")
    cls: Annotated[list[Count], Field(max_length=256)] = []
    conf: Annotated[list[Count], Field(max_length=16)] = []


_MODELS: dict[Channel, type[_Msg]] = {
    Channel.STATE: DeviceState,
    Channel.DESIRED: DesiredState,
    Channel.EVENT: DeviceEvent,
    Channel.HB: Heartbeat,
    Channel.TM: Telemetry,
}


def encode(msg: _Msg) -> bytes:
    return msg.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")


def parse(channel: Channel | str, payload: bytes, device_id: str | None = None) -> Any:
    """Validate a payload for ``channel``; returns the message (``bool`` for ``online``).

    With ``device_id`` (from the topic), a state naming another device is refused as spoofed.
    """
    ch = Channel(channel)
    if len(payload) > MAX_BYTES[ch]:
        raise WireError(f"{ch.value} message of {len(payload)} bytes exceeds {MAX_BYTES[ch]}")
    if ch is Channel.ONLINE:
        if payload not in (b"0", b"1"):
            raise WireError("online payload must be '0' or '1'")
        return payload == b"1"
    try:
        msg = _MODELS[ch].model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        raise WireError(f"invalid {ch.value} message: {where}: {first.get('msg', 'invalid')}") from None
    if isinstance(msg, DeviceState) and device_id is not None and msg.device_id != device_id:
        raise WireError(f"state for {msg.device_id!r} published on the topic of {device_id!r}")
    if isinstance(msg, Telemetry) and msg.input_hist and len({len(g) for g in msg.input_hist}) != 1:
        raise WireError("invalid tm message: input histograms differ in size")
    return msg
