"""Request dependencies: the process runtime, a database session, and role checks on bearer tokens."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from tinyfleet.server.broker.conf import verify_secret
from tinyfleet.server.db import Device
from tinyfleet.server.runtime import Runtime
from tinyfleet.server.tokens import Role, lookup_token

__all__ = [
    "DB",
    "RT",
    "Admin",
    "Caller",
    "DeviceOrToken",
    "Operator",
    "Viewer",
    "db_session",
    "device_or_token",
    "require",
    "runtime",
]


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role | None  # None: a device
    device_id: str | None = None


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def db_session(rt: Annotated[Runtime, Depends(runtime)]) -> Iterator[Session]:
    with rt.db.session() as s:
        yield s


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="tinyfleet"'})


def require(role: Role) -> Callable[..., Caller]:
    def check(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> Caller:
        token = _bearer(request)
        if token is None:
            raise _unauthorized("missing bearer token")
        with rt.db.session() as s:
            row = lookup_token(s, token)
            if row is None:
                raise _unauthorized("invalid or revoked token")
            have = Role.parse(row.role)
            name = row.name
        if have < role:
            raise HTTPException(403, f"needs the {role.name.lower()} role; this token is {have.name.lower()}")
        return Caller(name=name, role=have)

    return check


def device_or_token(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> Caller:
    """A device (HTTP Basic: device id and secret) or any API token (viewer and up)."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, secret = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("malformed basic credentials") from None
        with rt.db.session() as s:
            dev = s.get(Device, user)
            ok = dev is not None and verify_secret(dev.secret_hash, secret)
        if not ok:
            raise _unauthorized("unknown device or wrong secret")
        return Caller(name=user, role=None, device_id=user)
    return require(Role.VIEWER)(request, rt)


RT = Annotated[Runtime, Depends(runtime)]
DB = Annotated[Session, Depends(db_session)]
Viewer = Annotated[Caller, Depends(require(Role.VIEWER))]
Operator = Annotated[Caller, Depends(require(Role.OPERATOR))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
DeviceOrToken = Annotated[Caller, Depends(device_or_token)]
