"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from enum import StrEnum

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tinyfleet.server.db import Base, Database, migrate
from tinyfleet.states import DeviceKind, EventType, UpdateState


def test_migrations_match_models(database_url: str) -> None:
    db = Database(database_url)
    migrate(db)
    migrate(db)  # idempotent: a second server start changes nothing
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []


BASE_ROWS = {  # every NOT NULL column without a default
    "devices": {
        "id": "d",
        "board": "b",
        "tags": "{}",
        "secret_hash": "h",
        "enrolled_at": 0,
        "firmware": "",
        "security_counter": 0,
        "slots": "[]",
        "runtimes": "[]",
        "update_state": "idle",
        "state_seq": 0,
        "online": False,
        "desired_rev": 0,
        "published_rev": 0,
    },
    "device_events": {
        "device_id": "d",
        "deployment_id": "x",
        "type": "confirmed",
        "detail": "",
        "ts": 0,
        "received_at": 0,
    },
}


@pytest.mark.parametrize(
    "table,column,enum",
    [
        ("devices", "kind", DeviceKind),
        ("devices", "update_state", UpdateState),
        ("device_events", "type", EventType),
    ],
)
def test_state_columns_accept_exactly_the_contract_enum(
    database_url: str, table: str, column: str, enum: type[StrEnum]
) -> None:
    """The CHECK constraints of the migrations list the values of the contract enums, no more, no less."""
    db = Database(database_url)
    migrate(db)
    try:
        for i, value in enumerate([*(m.value for m in enum), "not_a_state"]):
            row = {**BASE_ROWS[table], column: value}
            if table == "devices":
                row["id"] = f"d{i}"
            sql = text(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})")
            if value == "not_a_state":
                with pytest.raises(IntegrityError), db.engine.begin() as conn:
                    conn.execute(sql, row)
            else:
                with db.engine.begin() as conn:
                    conn.execute(sql, row)
    finally:
        db.dispose()
