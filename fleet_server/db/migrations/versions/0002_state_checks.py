"""Device states are the contract enums: CHECK constraints on devices.kind, devices.update_state and
device_events.type list the values of ``tinyfleet.states`` (DeviceKind, UpdateState, EventType) as
they were at this revision. A later change of an enum needs a migration that replaces its constraint
(tests/server/test_db.py compares these constraints with the enums).

Revision ID: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHECKS = {
    ("devices", "ck_devices_kind", "kind"): ("mcu", "linux", "sim"),
    ("devices", "ck_devices_update_state", "update_state"): (
        "idle",
        "downloading",
        "verifying",
        "installing",
        "testing",
        "confirmed",
        "rolled_back",
        "failed",
    ),
    ("device_events", "ck_device_events_type", "type"): (
        "download_started",
        "download_progress",
        "downloaded",
        "verify_failed",
        "installed",
        "self_test_passed",
        "self_test_failed",
        "activated",
        "confirmed",
        "rolled_back",
        "incompatible",
        "failed",
    ),
}


def upgrade() -> None:
    for (table, name, column), values in CHECKS.items():
        with op.batch_alter_table(table) as batch:  # SQLite: the table is rebuilt with the constraint
            batch.create_check_constraint(name, f"{column} IN ({', '.join(repr(v) for v in values)})")


def downgrade() -> None:
    for table, name, _column in CHECKS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="check")
