"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tinyfleet.server.db import Base, Database, migrate


def test_migrations_match_models(database_url: str) -> None:
    db = Database(database_url)
    migrate(db)
    migrate(db)  # idempotent: a second server start changes nothing
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []
