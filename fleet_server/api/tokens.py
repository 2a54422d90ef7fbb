"""API tokens (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from tinyfleet.server.api.deps import DB, Admin
from tinyfleet.server.api.schemas import TokenIn, TokenOut
from tinyfleet.server.db import ApiToken
from tinyfleet.server.tokens import Role, create_token

router = APIRouter(prefix="/api/v1", tags=["tokens"])


def _out(t: ApiToken, token: str | None = None) -> TokenOut:
    return TokenOut(
        id=t.id, name=t.name, role=t.role, created_at=t.created_at, revoked=t.revoked, token=token
    )


@router.post("/tokens", response_model=TokenOut, status_code=201)
def new_token(body: TokenIn, s: DB, _: Admin) -> TokenOut:
    """Create a token; its value is in this answer only."""
    row, token = create_token(s, body.name, Role.parse(body.role))
    return _out(row, token)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(s: DB, _: Admin) -> list[TokenOut]:
    return [_out(t) for t in s.scalars(select(ApiToken).order_by(ApiToken.id))]


@router.delete("/tokens/{token_id}", status_code=204)
def revoke(token_id: int, s: DB, _: Admin) -> None:
    row = s.get(ApiToken, token_id)
    if row is None:
        raise HTTPException(404, f"no token {token_id}")
    row.revoked = True
