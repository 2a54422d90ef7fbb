"""Persistence: SQLAlchemy 2 models, engine/session set-up, alembic migrations run at start-up."""

from tinyfleet.server.db.models import (
    ApiToken,
    Assignment,
    Base,
    Device,
    DeviceEventRow,
    DriftState,
    EnrollmentToken,
    Group,
    GroupMember,
    ModelRow,
    Rollout,
    RolloutEvent,
    TelemetryRow,
)
from tinyfleet.server.db.session import Database, migrate

__all__ = [
    "ApiToken",
    "Assignment",
    "Base",
    "Database",
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
    "migrate",
]
