"""telemetry.lat_hist: the period's latency histogram (64 fixed log-spaced bins,
``tinyfleet.drift.LAT_EDGES_US``), so a cohort's p95 is a quantile of merged counts; NULL for
devices that do not send one.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("telemetry") as batch:
        batch.add_column(sa.Column("lat_hist", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telemetry") as batch:
        batch.drop_column("lat_hist")
