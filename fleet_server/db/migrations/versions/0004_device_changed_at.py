"""devices.changed_at: server time of the last change of a device's reported state or OTA events,
indexed, and an index on assignments (rollout_id, updated_at), so a scheduler step re-reads only the
devices and assignments that changed since the last one.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("changed_at", sa.Float(), nullable=True))
        batch.create_index("ix_devices_changed_at", ["changed_at"])
    op.create_index("ix_assignments_rollout_updated", "assignments", ["rollout_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_assignments_rollout_updated", table_name="assignments")
    with op.batch_alter_table("devices") as batch:
        batch.drop_index("ix_devices_changed_at")
        batch.drop_column("changed_at")
