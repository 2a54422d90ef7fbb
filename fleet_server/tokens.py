"""API bearer tokens with roles. Tokens are shown once and stored as sha256."""

from __future__ import annotations

import hashlib
import secrets
import time
from enum import IntEnum
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinyfleet.errors import UsageError
from tinyfleet.fsutil import atomic_write_text
from tinyfleet.server.db import ApiToken

__all__ = ["Role", "create_token", "ensure_admin_token", "hash_token", "lookup_token"]


class Role(IntEnum):
    """Each role may do what the roles below it may: viewer reads, operator acts, admin manages tokens."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise UsageError(f"unknown role {name!r} (admin, operator, viewer)") from None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(s: Session, name: str, role: Role, token: str | None = None) -> tuple[ApiToken, str]:
    if not name or len(name) > 64:
        raise UsageError("token name must be 1-64 characters")
    token = token or "tf_" + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role.name.lower(), token_hash=hash_token(token), created_at=time.time())
    s.add(row)
    s.flush()
    return row, token


def lookup_token(s: Session, token: str) -> ApiToken | None:
    row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    return None if row is None or row.revoked else row


def ensure_admin_token(s: Session, data_dir: Path, configured: str = "") -> str | None:
    """With ``configured``, make sure it is an admin token. Else, on an empty table, make one and write
    it to ``DATA_DIR/admin.token`` (mode 0600). Returns the token when one was made or configured."""
    if configured:
        if lookup_token(s, configured) is None:
            create_token(s, "configured-admin", Role.ADMIN, configured)
        return configured
    if s.scalar(select(func.count()).select_from(ApiToken)):
        return None
    _, token = create_token(s, "bootstrap-admin", Role.ADMIN)
    atomic_write_text(data_dir / "admin.token", token + "\n", mode=0o600)
    return token
