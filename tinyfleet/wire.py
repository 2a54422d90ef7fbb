"""MQTT wire contract between devices and the fleet server (docs/mqtt-protocol.md).

Topics, one folder per device (the device id is also its MQTT username, so the broker ACL
``pattern ... tf/v1/d/%u/...`` confines a device to its own topics)::

    tf/v1/d/{device_id}/state     device → server  retained  DeviceState
    tf/v1/d/{device_id}/desired   server → device  retained  DesiredState
    tf/v1/d/{device_id}/event     device → server  QoS 1     DeviceEvent
    tf/v1/d/{device_id}/hb        device → server  QoS 0     Heartbeat
    tf/v1/d/{device_id}/tm        device → server  QoS 1     Telemetry
    tf/v1/d/{device_id}/online    device → server  retained  b"1" / b"0" (b"0" is the last will)

Payloads are compact JSON objects (RFC 8259: ``NaN`` and ``Infinity`` are refused) with ``"v": 1``.
The message types are ``msgspec`` structs: every limit and closed value set is in the type, and the
published JSON Schema (``docs/reference/``) is generated from them. ``parse(channel, payload)``
checks size and schema and raises :class:`WireError` naming the offending field; a receiver counts
and drops such messages. ``encode`` checks a message against the same limits before it leaves.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Final, TypeVar

import msgspec

from tinyfleet.states import DeviceKind, EventType, SlotName, SlotState, UpdateState

__all__ = [
    "COUNT_MAX",
    "DEVICE_ID_PATTERN",
    "DEVICE_ID_RE",
    "MAX_BYTES",
    "MESSAGES",
    "TOPIC_PREFIX",
    "TS_MAX",
    "Bins",
    "Channel",
    "Count",
    "Counter",
    "DeploymentId",
    "DesiredModel",
    "DesiredState",
    "DeviceEvent",
    "DeviceId",
    "DeviceKind",
    "DeviceState",
    "EventType",
    "Heartbeat",
    "ModelRef",
    "Name",
    "NonNegative",
    "Seq",
    "Sha256Hex",
    "SlotInfo",
    "SlotName",
    "SlotState",
    "Telemetry",
    "Timestamp",
    "UpdateState",
    "Version",
    "WireError",
    "convert",
    "encode",
    "parse",
    "parse_topic",
    "pattern",
    "to_dict",
    "topic",
    "wildcard",
]

TOPIC_PREFIX = "tf/v1/d"
DEVICE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN[:-1] + r"\Z")  # "\Z": "$" would also accept a final newline


class WireError(ValueError):
    """A message or topic that does not follow the wire contract.

    ``field`` names the offending field as a path (``slots[0].state``), or is ``""`` when the
    message as a whole is at fault (size, not JSON, not an object).
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class Channel(StrEnum):
    STATE = "state"
    DESIRED = "desired"
    EVENT = "event"
    HB = "hb"
    TM = "tm"
    ONLINE = "online"


MAX_BYTES: dict[Channel, int] = {
    Channel.STATE: 4096,
    Channel.DESIRED: 8192,  # room for the signature and a root-signed key list (tinyfleet.desired)
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


# ---- field types: every limit lives here ---------------------------------------------------------
# Patterns end in "$(?!\n)": Python's "$" also matches before a final newline, the look-ahead refuses
# it; JSON Schema (ECMA-262) readers see the same language.
def pattern(body: str) -> str:
    return "^" + body + "$(?!\n)"


COUNT_MAX: Final = 2**53  # the largest integer every JSON reader holds exactly
TS_MAX: Final = 1e10  # UNIX seconds, year 2286

DeviceId = Annotated[
    str,
    msgspec.Meta(pattern=pattern(DEVICE_ID_PATTERN[1:-1]), description="the device id (= MQTT username)"),
]
Sha256Hex = Annotated[
    str, msgspec.Meta(pattern=pattern("[0-9a-f]{64}"), description="SHA-256, lower-case hex")
]
Version = Annotated[
    str, msgspec.Meta(pattern=pattern(r"[0-9]{1,5}\.[0-9]{1,5}\.[0-9]{1,5}"), description="MAJOR.MINOR.PATCH")
]
Counter = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF, description="anti-rollback security counter")]
Count = Annotated[int, msgspec.Meta(ge=0, le=COUNT_MAX)]
Timestamp = Annotated[float, msgspec.Meta(ge=0, le=TS_MAX, description="UNIX seconds")]
Name = Annotated[str, msgspec.Meta(pattern=pattern("[A-Za-z0-9][A-Za-z0-9._-]{0,63}"))]
DeploymentId = Annotated[str, msgspec.Meta(max_length=64)]
Seq = Annotated[Count, msgspec.Meta(description="sender's sequence number; orders messages with equal ts")]
Bins = Annotated[list[Count], msgspec.Meta(min_length=16, max_length=16)]
NonNegative = Annotated[float, msgspec.Meta(ge=0, le=1e15)]


class _Part(msgspec.Struct, frozen=True, kw_only=True):
    """A nested object of a message."""


class _Msg(msgspec.Struct, frozen=True, kw_only=True, tag_field="v", tag=1):
    """A top-level message: encoded with ``"v": 1``; a missing ``v`` reads as 1, any other is refused."""


class ModelRef(_Part, frozen=True, kw_only=True):
    """A model package a device holds."""

    name: Name
    version: Version
    sha256: Annotated[Sha256Hex, msgspec.Meta(description="digest of the model package file")]
    security_counter: Counter = 0


class SlotInfo(_Part, frozen=True, kw_only=True):
    """One model slot of the device."""

    slot: SlotName
    state: SlotState
    model: Annotated[ModelRef, msgspec.Meta(description="what the slot holds, if known")] | None = None


class DeviceState(_Msg, frozen=True, kw_only=True):
    """What a device is and runs (retained; the server keeps the newest by ``ts``, ``seq``)."""

    device_id: DeviceId
    board: Annotated[Name, msgspec.Meta(description="board name (docs/reference/boards.md)")]
    kind: DeviceKind
    firmware: Annotated[str, msgspec.Meta(max_length=32, description="firmware or agent version text")] = ""
    active: Annotated[ModelRef, msgspec.Meta(description="the model it runs; absent: none")] | None = None
    slots: Annotated[
        list[SlotInfo], msgspec.Meta(max_length=2, description="A/B model slots, if it has them")
    ] = []
    runtimes: Annotated[
        list[Name], msgspec.Meta(max_length=8, description="runtime names (docs/reference/boards.md)")
    ] = []
    deployment_id: (
        Annotated[
            DeploymentId, msgspec.Meta(description="the desired state's deployment the device works on")
        ]
        | None
    ) = None
    update: UpdateState = UpdateState.IDLE
    arena_budget: Annotated[Count, msgspec.Meta(description="bytes of RAM for a tensor arena")] | None = None
    flash_budget: Annotated[Count, msgspec.Meta(description="bytes of one model slot")] | None = None
    ts: Timestamp
    seq: Seq = 0


class DesiredModel(_Part, frozen=True, kw_only=True):
    """The model package a device must install."""

    name: Name
    version: Version
    sha256: Annotated[Sha256Hex, msgspec.Meta(description="package digest = artifact address")]
    size: Annotated[int, msgspec.Meta(gt=0, le=COUNT_MAX, description="package size in bytes")]
    security_counter: Counter
    url: Annotated[
        str,
        msgspec.Meta(
            max_length=512,
            description="absolute URL, or a path on the server's HTTP address; HTTP Basic (device id, secret), Range",
        ),
    ]


class DesiredState(_Msg, frozen=True, kw_only=True):
    """What the server wants a device to run (retained; a new ``deployment_id`` per assignment)."""

    deployment_id: Annotated[DeploymentId, msgspec.Meta(min_length=1)]
    rollout_id: Annotated[str, msgspec.Meta(max_length=64, description="informational")] | None = None
    model: Annotated[DesiredModel, msgspec.Meta(description="absent: keep what you run")] | None = None
    issued_at: Timestamp


class DeviceEvent(_Msg, frozen=True, kw_only=True):
    """One step of an update."""

    deployment_id: Annotated[DeploymentId, msgspec.Meta(description="of the desired state it works on")]
    type: EventType
    model: Annotated[ModelRef, msgspec.Meta(description="the package concerned")] | None = None
    detail: Annotated[str, msgspec.Meta(max_length=200, description="human-readable reason")] = ""
    progress: Annotated[float, msgspec.Meta(ge=0, le=1, description="download fraction")] | None = None
    ts: Timestamp
    seq: Seq = 0


class Heartbeat(_Msg, frozen=True, kw_only=True):
    """Liveness between state changes."""

    ts: Timestamp
    uptime_s: NonNegative = 0.0
    model_version: Annotated[Version, msgspec.Meta(description="version of the active model")] | None = None


class Telemetry(_Msg, frozen=True, kw_only=True):
    """What the active model did over one period (bins as in ``tinyfleet/drift.py``)."""

    ts: Timestamp
    period_s: Annotated[float, msgspec.Meta(gt=0, le=86400)]
    model: Annotated[Version, msgspec.Meta(description="active model version the counts belong to")]
    n: Annotated[Count, msgspec.Meta(description="inferences in the period")]
    err: Count = 0
    lat_p50_us: NonNegative = 0.0
    lat_p95_us: NonNegative = 0.0
    input_hist: Annotated[
        list[Bins], msgspec.Meta(max_length=16, description="input histograms: groups × 16 bins")
    ] = msgspec.field(default_factory=list, name="in")
    cls: Annotated[list[Count], msgspec.Meta(max_length=256, description="arg-max count per class")] = []
    conf: Annotated[list[Count], msgspec.Meta(max_length=16, description="confidence histogram")] = []
    lat: Annotated[
        list[Count],
        msgspec.Meta(
            max_length=64, description="latency histogram: 64 log-spaced bins, tinyfleet.drift.LAT_EDGES_US"
        ),
    ] = []


MESSAGES: dict[Channel, type[_Msg]] = {
    Channel.STATE: DeviceState,
    Channel.DESIRED: DesiredState,
    Channel.EVENT: DeviceEvent,
    Channel.HB: Heartbeat,
    Channel.TM: Telemetry,
}
_DECODERS: dict[Channel, msgspec.json.Decoder[Any]] = {
    ch: msgspec.json.Decoder(cls) for ch, cls in MESSAGES.items()
}
_ENCODER = msgspec.json.Encoder()
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
T = TypeVar("T")


def _wire_error(kind: str, exc: msgspec.MsgspecError) -> WireError:
    text = str(exc)
    m = _AT.search(text)
    field = m.group("path").lstrip(".") if m else ""
    reason = text[: m.start()] if m else text
    return WireError(f"invalid {kind} message: {field or 'message'}: {reason}", field)


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj


def to_dict(msg: msgspec.Struct) -> dict[str, Any]:
    """The message as JSON-ready builtins, wire names, absent optional fields left out."""
    out: dict[str, Any] = _drop_none(msgspec.to_builtins(msg))
    return out


def convert(data: Any, cls: type[T]) -> T:
    """Build and check a message (or part) from builtins such as a stored ``to_dict``; WireError if invalid."""
    try:
        return msgspec.convert(data, cls, strict=True)
    except msgspec.ValidationError as exc:
        raise _wire_error(getattr(cls, "__name__", "wire"), exc) from None


def encode(msg: msgspec.Struct) -> bytes:
    """Compact JSON of ``msg``, checked against the contract (a sender never sends what receivers refuse)."""
    data = to_dict(msg)
    convert(data, type(msg))
    return _ENCODER.encode(data)


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
        msg = _DECODERS[ch].decode(payload)
    except msgspec.ValidationError as exc:
        raise _wire_error(ch.value, exc) from None
    except msgspec.DecodeError as exc:
        raise WireError(f"invalid {ch.value} message: not JSON ({exc})") from None
    except RecursionError:  # msgspec's depth limit, also inside ignored fields
        raise WireError(f"invalid {ch.value} message: nested too deeply") from None
    if isinstance(msg, DeviceState) and device_id is not None and msg.device_id != device_id:
        raise WireError(f"state for {msg.device_id!r} published on the topic of {device_id!r}", "device_id")
    return msg
