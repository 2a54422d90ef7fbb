"""Accept a model package into the registry, or refuse it with a reason.

Refused: anything :func:`tinyfleet.package.read_package` refuses (tampered, unsigned, untrusted key,
malformed), a version of a model that is already registered (even with the same bytes: versions are
immutable), and a security counter lower than the highest one already registered for that model
(anti-rollback: a device that saw counter N never accepts less), and a counter more than
:data:`tinyfleet.trust.MAX_COUNTER_STEP` above it (or above 0 for a first version): one release
cannot fast-forward devices to a counter nothing can follow (a typo, or 2^32-1 from a stolen key).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tinyfleet.errors import PackageError, TinyfleetError
from tinyfleet.package import read_package
from tinyfleet.server.db import ModelRow
from tinyfleet.server.registry.store import ArtifactStore
from tinyfleet.trust import MAX_COUNTER_STEP

__all__ = ["PublishError", "publish_package"]


class PublishError(TinyfleetError):
    """The registry refuses a package; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def publish_package(
    session: Session,
    store: ArtifactStore,
    raw: bytes,
    trusted_keys: Mapping[str, bytes],
    uploaded_by: str = "",
) -> ModelRow:
    if not trusted_keys:
        raise PublishError("the server has no trusted signing keys configured (--trusted-key)", 422)
    try:
        pkg = read_package(raw, trusted_keys)
    except PackageError as exc:
        raise PublishError(f"package refused: {exc}", 422) from None
    if session.scalar(select(ModelRow.id).where(ModelRow.name == pkg.name, ModelRow.version == pkg.version)):
        raise PublishError(f"{pkg.name} {pkg.version} is already registered (versions are immutable)", 409)
    highest = session.scalar(select(func.max(ModelRow.security_counter)).where(ModelRow.name == pkg.name))
    if highest is not None and pkg.security_counter < highest:
        raise PublishError(
            f"{pkg.name} {pkg.version} has security counter {pkg.security_counter}, lower than {highest} "
            "already registered (anti-rollback)",
            409,
        )
    if pkg.security_counter > (highest or 0) + MAX_COUNTER_STEP:
        raise PublishError(
            f"{pkg.name} {pkg.version} raises the security counter to {pkg.security_counter}, more than "
            f"{MAX_COUNTER_STEP} above {highest or 0} (the most one release may raise it; a device that "
            "installed it could never be updated again without a root-signed reset)",
            422,
        )
    digest = store.put(pkg.raw)
    major, minor, patch = pkg.meta.semver
    row = ModelRow(
        name=pkg.name,
        version=pkg.version,
        major=major,
        minor=minor,
        patch=patch,
        security_counter=pkg.security_counter,
        sha256=digest,
        size=pkg.size,
        key_id=pkg.key_id,
        boards=pkg.boards,
        manifest=pkg.manifest,
        uploaded_at=time.time(),
        uploaded_by=uploaded_by,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise PublishError(
            f"{pkg.name} {pkg.version} is already registered (same version or same bytes)", 409
        ) from None
    return row
