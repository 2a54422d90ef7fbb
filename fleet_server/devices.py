"""Device enrollment, credentials, tags and groups (static lists and tag selectors)."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tinyfleet.boards import all_boards
from tinyfleet.errors import UsageError
from tinyfleet.server.broker.conf import hash_secret
from tinyfleet.server.db import Device, EnrollmentToken, Group, GroupMember
from tinyfleet.wire import DEVICE_ID_RE

__all__ = [
    "DeviceConflict",
    "create_enrollment_token",
    "enroll",
    "enroll_many",
    "enroll_with_token",
    "matches",
    "resolve_target",
    "save_group",
    "validate_tags",
]

_TAG_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}\Z")  # "\Z": "$" accepts a final newline
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")


class DeviceConflict(UsageError):
    """The device id is taken."""


def validate_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    if len(tags) > 32:
        raise UsageError("at most 32 tags per device")
    out = {}
    for k, v in tags.items():
        if not isinstance(k, str) or not _TAG_KEY.match(k):
            raise UsageError(f"invalid tag name {k!r} (letters, digits, '.', '_', '-'; up to 32)")
        if not isinstance(v, str) or len(v) > 64:
            raise UsageError(f"tag {k}: value must be a string of up to 64 characters")
        out[k] = v
    return out


def _check_board(board: str, known: Mapping[str, Any] | None = None) -> None:
    known = all_boards() if known is None else known
    if board not in known:
        raise UsageError(f"unknown board {board!r} (known: {', '.join(sorted(known))})")


def enroll(
    s: Session, device_id: str, board: str, tags: Mapping[str, Any] | None = None
) -> tuple[Device, str]:
    """Register a device; returns it and its secret (shown once, stored only as a hash)."""
    return enroll_many(s, [(device_id, board, tags or {})])[0]


def enroll_many(
    s: Session, devices: Sequence[tuple[str, str, Mapping[str, Any]]]
) -> list[tuple[Device, str]]:
    """Register devices (id, board, tags) in the caller's transaction: all or none."""
    ids = [d for d, _, _ in devices]
    if len(set(ids)) != len(ids):
        raise UsageError("a device id is given twice")
    boards = all_boards()
    for device_id, board, _ in devices:
        if not DEVICE_ID_RE.match(device_id):
            raise UsageError(
                f"invalid device id {device_id!r}: 1-63 of a-z, 0-9, '_', '-', starting with a letter or digit"
            )
        _check_board(board, boards)
    for i in range(0, len(ids), 5000):
        taken = s.scalars(select(Device.id).where(Device.id.in_(ids[i : i + 5000]))).first()
        if taken is not None:
            raise DeviceConflict(f"device {taken} is already enrolled")
    out = []
    now = time.time()
    for device_id, board, tags in devices:
        secret = secrets.token_urlsafe(24)
        dev = Device(
            id=device_id,
            board=board,
            tags=validate_tags(tags),
            secret_hash=hash_secret(secret),
            enrolled_at=now,
        )
        s.add(dev)
        out.append((dev, secret))
    s.flush()
    return out


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_enrollment_token(s: Session, tags: Mapping[str, Any], uses: int, ttl_s: float) -> str:
    if not 1 <= uses <= 100_000:
        raise UsageError("uses must be 1..100000")
    if not 0 < ttl_s <= 365 * 86400:
        raise UsageError("ttl must be between 1 s and 365 days")
    token = "tfe_" + secrets.token_urlsafe(24)
    now = time.time()
    s.add(
        EnrollmentToken(
            token_hash=token_hash(token),
            tags=validate_tags(tags),
            expires_at=now + ttl_s,
            uses_left=uses,
            created_at=now,
        )
    )
    return token


def enroll_with_token(s: Session, token: str, device_id: str, board: str) -> tuple[Device, str]:
    row = s.scalar(
        select(EnrollmentToken).where(EnrollmentToken.token_hash == token_hash(token)).with_for_update()
    )
    if row is None or row.uses_left <= 0 or row.expires_at < time.time():
        raise PermissionError("enrollment token is unknown, used up or expired")
    row.uses_left -= 1
    return enroll(s, device_id, board, row.tags)


def matches(tags: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """A selector matches when every key is present with that value ('*' matches any value)."""
    return all(k in tags and (v == "*" or tags[k] == v) for k, v in selector.items())


def save_group(
    s: Session, name: str, devices: Sequence[str] | None, selector: Mapping[str, Any] | None
) -> Group:
    if not _GROUP.match(name):
        raise UsageError(f"invalid group name {name!r}")
    if (devices is None) == (selector is None):
        raise UsageError("a group has either a device list or a tag selector")
    if selector is not None and not selector:
        raise UsageError("a selector needs at least one tag")
    group = s.get(Group, name) or Group(name=name, created_at=time.time())
    group.selector = validate_tags(selector) if selector is not None else None
    s.add(group)
    s.execute(delete(GroupMember).where(GroupMember.group_name == name))
    if devices is not None:
        ids = sorted(set(devices))
        found = set(s.scalars(select(Device.id).where(Device.id.in_(ids))))
        missing = [d for d in ids if d not in found]
        if missing:
            raise UsageError(f"unknown devices: {', '.join(missing[:10])}")
        s.flush()
        s.add_all(GroupMember(group_name=name, device_id=d) for d in ids)
    s.flush()
    return group


def resolve_target(s: Session, target: Mapping[str, Any]) -> list[str]:
    """Device ids of a rollout target ``{"group": name}`` or ``{"selector": {tag: value}}``, sorted."""
    if target.get("group") is not None:
        group = s.get(Group, target["group"])
        if group is None:
            raise UsageError(f"no group named {target['group']!r}")
        if group.selector is None:
            return sorted(
                s.scalars(select(GroupMember.device_id).where(GroupMember.group_name == group.name))
            )
        return _select(s, group.selector)
    if target.get("selector"):
        return _select(s, validate_tags(target["selector"]))
    raise UsageError("target needs a group or a selector")


def _select(s: Session, selector: Mapping[str, str]) -> list[str]:
    rows: Iterable[tuple[str, dict[str, str]]] = s.execute(select(Device.id, Device.tags))
    return sorted(d for d, tags in rows if matches(tags or {}, selector))
