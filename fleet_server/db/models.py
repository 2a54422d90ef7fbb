"""Tables. Times are UNIX seconds (float) so SQLite and PostgreSQL agree; JSON columns hold the
wire/engine documents as they are. The schema is created and changed only by the alembic migrations
in ``migrations/versions`` (tests check the two agree)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tinyfleet.rollout_status import RolloutStatus
from tinyfleet.states import DeviceKind, EventType, UpdateState

__all__ = [
    "ApiToken",
    "Assignment",
    "Base",
    "Device",
    "DeviceEventRow",
    "DriftState",
    "EnrollmentToken",
    "Group",
    "GroupMember",
    "ModelRow",
    "Rollout",
    "RolloutEvent",
    "TelemetryRow",
]

Json = dict[str, Any]


def _state_enum(enum: type[StrEnum], length: int, name: str) -> Enum:
    """A contract enum stored as its string value in a VARCHAR(length) with a CHECK constraint
    (migration 0002) listing the enum's values: a value outside the contract cannot be written."""
    return Enum(
        enum,
        native_enum=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
        create_constraint=True,
        name=name,
    )


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    board: Mapped[str] = mapped_column(String(64))
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret_hash: Mapped[str] = mapped_column(String(200))  # mosquitto $7$ PBKDF2-SHA512 line
    enrolled_at: Mapped[float] = mapped_column(Float)
    # reported by the device (retained state)
    kind: Mapped[DeviceKind | None] = mapped_column(
        _state_enum(DeviceKind, 16, "ck_devices_kind"), default=None
    )
    firmware: Mapped[str] = mapped_column(String(32), default="")
    model_name: Mapped[str | None] = mapped_column(String(64), default=None)
    model_version: Mapped[str | None] = mapped_column(String(32), default=None)
    model_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    security_counter: Mapped[int] = mapped_column(BigInteger, default=0)
    slots: Mapped[list[Any]] = mapped_column(JSON, default=list)
    runtimes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    update_state: Mapped[UpdateState] = mapped_column(
        _state_enum(UpdateState, 16, "ck_devices_update_state"), default=UpdateState.IDLE
    )
    deployment_id: Mapped[str | None] = mapped_column(String(64), default=None)
    arena_budget: Mapped[int | None] = mapped_column(BigInteger, default=None)
    flash_budget: Mapped[int | None] = mapped_column(BigInteger, default=None)
    state_ts: Mapped[float | None] = mapped_column(Float, default=None)
    state_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_seen: Mapped[float | None] = mapped_column(Float, default=None)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    # decided by the server (retained desired state; an outbox: published_rev < desired_rev)
    desired: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    desired_rev: Mapped[int] = mapped_column(Integer, default=0)
    published_rev: Mapped[int] = mapped_column(Integer, default=0)
    rollout_id: Mapped[int | None] = mapped_column(
        ForeignKey("rollouts.id"), default=None
    )  # one active rollout
    # server time of the last change of its reported state or OTA events (not heartbeats or telemetry):
    # the scheduler re-reads only devices changed since its last step
    changed_at: Mapped[float | None] = mapped_column(Float, default=None)

    __table_args__ = (
        Index("ix_devices_outbox", "published_rev", "desired_rev"),
        Index("ix_devices_changed_at", "changed_at"),
    )


class Group(Base):
    __tablename__ = "groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    selector: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # tags to match; None: static
    created_at: Mapped[float] = mapped_column(Float)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_name: Mapped[str] = mapped_column(ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    major: Mapped[int] = mapped_column(Integer)
    minor: Mapped[int] = mapped_column(Integer)
    patch: Mapped[int] = mapped_column(Integer)
    security_counter: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(32))
    boards: Mapped[list[Any]] = mapped_column(JSON, default=list)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    uploaded_at: Mapped[float] = mapped_column(Float)
    uploaded_by: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (UniqueConstraint("name", "version", name="uq_models_name_version"),)


class Rollout(Base):
    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"group": name} or {"selector": {tag: value}}
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # stages, gates, thresholds as created
    status: Mapped[RolloutStatus] = mapped_column(
        Enum(
            RolloutStatus,
            native_enum=False,
            length=24,
            values_callable=lambda e: [m.value for m in e],
            validate_strings=True,
        )
    )  # the contract enum; its values fit the VARCHAR(24) of the first migration
    engine_state: Mapped[str] = mapped_column(
        Text
    )  # JSON summary of the engine state (the event log is the truth)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    claimed_by: Mapped[str | None] = mapped_column(String(128), default=None)
    claimed_until: Mapped[float | None] = mapped_column(Float, default=None)
    revision: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_rollouts_status", "status"),)


class RolloutEvent(Base):
    """Append-only audit trail; replaying it rebuilds the rollout's state."""

    __tablename__ = "rollout_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    ts: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(48))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("rollout_id", "seq", name="uq_rollout_events_seq"),)


class Assignment(Base):
    """A device sent a model by a rollout. Unique per (rollout, device): never assigned twice."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    stage: Mapped[int] = mapped_column(Integer)
    deployment_id: Mapped[str] = mapped_column(String(64), unique=True)
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # ModelRef before the rollout
    status: Mapped[str] = mapped_column(String(16))
    assigned_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        UniqueConstraint("rollout_id", "device_id", name="uq_assignments_rollout_device"),
        Index("ix_assignments_device", "device_id"),
        Index("ix_assignments_rollout_updated", "rollout_id", "updated_at"),  # a step's changed rows
    )


class DeviceEventRow(Base):
    """OTA progress and result events reported by devices."""

    __tablename__ = "device_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    deployment_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[EventType] = mapped_column(_state_enum(EventType, 32, "ck_device_events_type"))
    detail: Mapped[str] = mapped_column(String(200), default="")
    progress: Mapped[float | None] = mapped_column(Float, default=None)
    ts: Mapped[float] = mapped_column(Float)
    received_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index("ix_device_events_deployment", "deployment_id"),
        Index("ix_device_events_device", "device_id"),
    )


class TelemetryRow(Base):
    """One telemetry sketch (histograms and counters over a period) from one device."""

    __tablename__ = "telemetry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[float] = mapped_column(Float)
    period_s: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(32))
    n: Mapped[int] = mapped_column(BigInteger)
    err: Mapped[int] = mapped_column(BigInteger)
    lat_p50_us: Mapped[float] = mapped_column(Float)
    lat_p95_us: Mapped[float] = mapped_column(Float)
    input_hist: Mapped[list[Any]] = mapped_column(JSON)
    cls: Mapped[list[Any]] = mapped_column(JSON)
    conf: Mapped[list[Any]] = mapped_column(JSON)
    lat_hist: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True, default=None)  # 64 latency bins
    received_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_telemetry_device_ts", "device_id", "ts"), Index("ix_telemetry_ts", "ts"))

    @property
    def model(self) -> str:
        """The version the counts belong to (the name ``tinyfleet.server.drift.window`` reads)."""
        return self.model_version


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    created_at: Mapped[float] = mapped_column(Float)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class EnrollmentToken(Base):
    __tablename__ = "enrollment_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[float] = mapped_column(Float)
    uses_left: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)


class DriftState(Base):
    """Persisted alert state (hysteresis) of one drift subject, e.g. ``device:ID`` or ``rollout:ID``."""

    __tablename__ = "drift_state"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)


# --- capture from the fleet and dataset versions (docs/mlops.md; tinyfleet.server.capture) ---


class CaptureGroup(Base):
    """Capture is off by default; a group with a row here, ``enabled``, allows it for its members."""

    __tablename__ = "capture_groups"

    group_name: Mapped[str] = mapped_column(ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class CaptureRequest(Base):
    """A bounded request for samples: which devices, how many, which trigger, and the byte budgets."""

    __tablename__ = "capture_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    devices: Mapped[list[str]] = mapped_column(JSON)
    trigger: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer)  # samples per device
    confidence_below: Mapped[int | None] = mapped_column(Integer, default=None)
    per_device_bytes: Mapped[int] = mapped_column(BigInteger)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    bytes_received: Mapped[int] = mapped_column(BigInteger, default=0)
    samples_received: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # open | closed
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    dataset_version: Mapped[str | None] = mapped_column(String(64), default=None)

    __table_args__ = (Index("ix_capture_requests_status", "status"),)


class CaptureUpload(Base):
    """One accepted batch of samples from one device (the bytes are in the artifact store)."""

    __tablename__ = "capture_uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("capture_requests.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    samples: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_capture_uploads_request_device", "request_id", "device_id"),)


class DatasetRow(Base):
    """A content-addressed dataset version: ``version`` is the sha256 of its canonical .npz."""

    __tablename__ = "datasets"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(100))
    samples: Mapped[int] = mapped_column(Integer)
    labelled: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(100))  # capture:ID | import
    parent: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64), default="")


# --- policies: the continuous-training loop (tinyfleet.server.policy) ---


class Policy(Base):
    """On a drift alert for ``model``: capture → labels → retrain → canary (``config``, docs/mlops.md)."""

    __tablename__ = "policies"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64), default="")


class PolicyRun(Base):
    """One iteration of a policy's loop; ``status`` is its current step, ``data`` what it made."""

    __tablename__ = "policy_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy: Mapped[str] = mapped_column(ForeignKey("policies.name", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_policy_runs_status", "status"),)


class PolicyEvent(Base):
    """Append-only audit trail of a loop iteration."""

    __tablename__ = "policy_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("policy_runs.id", ondelete="CASCADE"))
    ts: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_policy_events_run", "run_id"),)
