"""The dashboard's helper routes under ``/api/v1/ui``: who am I, and read-only views
that put together what a page shows (computed by the server's own functions, never re-implemented).

Every route needs a viewer token or better; none of them changes anything.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from fleet_server.api.deps import Caller, require
from fleet_server.tokens import Role

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/ui", tags=["dashboard"])
Viewer = Annotated[Caller, Depends(require(Role.VIEWER))]


@router.get("/whoami")
def whoami(caller: Viewer) -> dict[str, Any]:
    """The token's name and role (the dashboard hides actions a viewer may not take)."""
    assert caller.role is not None
    return {"name": caller.name, "role": caller.role.name.lower()}
