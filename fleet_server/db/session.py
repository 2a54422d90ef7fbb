"""Engine and sessions for SQLite (a file, the default) or PostgreSQL (by URL); migrations at start-up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tinyfleet.errors import UsageError

__all__ = ["Database", "migrate"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def _normalise(url: str) -> str:
    # plain postgresql:// means psycopg 3 here (the driver we ship)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """One engine per process; ``session()`` is a unit of work that commits or rolls back."""

    def __init__(self, url: str) -> None:
        self.url = _normalise(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except Exception as exc:  # noqa: BLE001 - an unusable URL is the user's to fix
            raise UsageError(f"cannot use database URL {url!r}: {exc}") from None
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def migrate(db: Database) -> None:
    """Bring the schema to the newest migration (idempotent; safe with several processes on PostgreSQL)."""
    if db.is_sqlite:
        Path(db.url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True) if "///" in db.url else None
    cfg = alembic_config(db)
    try:
        with db.engine.begin() as conn:
            if not db.is_sqlite:
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7310011)")  # one migrator at a time
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise UsageError(
            f"cannot open the database {db.engine.url.render_as_string(hide_password=True)}: {exc.orig}"
        ) from None
