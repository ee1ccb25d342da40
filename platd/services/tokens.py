"""Creating, listing and revoking API tokens, and turning a bearer token into a Principal."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from platd.auth.tokens import Principal, check_role, hash_token, new_token
from platd.clock import Clock
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.spec.errors import NotFound, Unauthenticated
from platd.spec.ids import uuid7
from platd.spec.names import check_name
from platd.store.db import Store
from platd.store.models import Org, Token


def authenticate(session: Session, bearer: str | None) -> Principal:
    if not bearer:
        raise Unauthenticated(
            "no API token was sent",
            hint="log in with: plat login --api URL --token TOKEN (or set PLAT_TOKEN)",
        )
    token = session.exec(
        select(Token).where(Token.token_hash == hash_token(bearer), Token.deleted == False)  # noqa: E712
    ).first()
    if token is None:
        raise Unauthenticated(
            "the API token is not valid (unknown or revoked)",
            hint="ask an owner for a new one: plat tokens create --org ORG --role ROLE",
        )
    org_name = None
    if token.org_id is not None:
        org = session.get(Org, token.org_id)
        if org is None or org.deleted:
            raise Unauthenticated("the token's org no longer exists")
        org_name = org.name
    return Principal(token.id, token.name, token.org_id, org_name, token.role)


def principal_for(ctx: ServiceContext, bearer: str | None) -> Principal:
    """Who a request's bearer token belongs to (a single indexed lookup)."""
    with ctx.store.read() as session:
        return authenticate(session, bearer)


def create_admin_token(store: Store, clock: Clock) -> str:
    """The host admin token, made once by ``platd init``."""
    secret = new_token()
    with store.write() as session:
        session.add(_row(clock, secret, "admin", None, "owner", "platd init"))
    return secret


def _row(clock: Clock, secret: str, name: str, org_id: str | None, role: str, by: str) -> Token:
    return Token(
        id=uuid7(),
        token_hash=hash_token(secret),
        hint=secret[-4:],
        name=name,
        org_id=org_id,
        role=role,
        created_at=clock.time(),
        created_by=by,
    )


def _describe(token: Token, org_name: str | None) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "org": org_name,
        "role": token.role,
        "hint": "…" + token.hint,
        "created_at": token.created_at,
        "created_by": token.created_by,
    }


def create(
    ctx: ServiceContext, principal: Principal, org: str, role: str, name: str | None
) -> dict[str, Any]:
    check_role(role)
    name = check_name("token", name) if name else f"{org}-{role}"
    secret = new_token()
    with ctx.store.write() as session:
        (org_row,) = tenancy.resolve(session, principal, [org])
        principal.require(org_row.id, "owner")
        token = _row(ctx.clock, secret, name, org_row.id, role, principal.name)
        session.add(token)
    # The only time the secret is ever returned.
    return {**_describe(token, org_row.name), "token": secret}


def list_tokens(
    ctx: ServiceContext, principal: Principal, org: str | None
) -> list[dict[str, Any]]:
    with ctx.store.read() as session:
        query = select(Token).where(Token.deleted == False)  # noqa: E712
        orgs = {o.id: o.name for o in session.exec(select(Org)).all()}
        if org is not None:
            (org_row,) = tenancy.resolve(session, principal, [org])
            principal.require(org_row.id, "owner")
            query = query.where(Token.org_id == org_row.id)
        elif not principal.is_admin:
            principal.require(principal.org_id, "owner")
            query = query.where(Token.org_id == principal.org_id)
        rows = session.exec(query.order_by(col(Token.created_at))).all()
        return [_describe(t, orgs.get(t.org_id) if t.org_id else None) for t in rows]


def revoke(ctx: ServiceContext, principal: Principal, token_id: str) -> dict[str, Any]:
    with ctx.store.write() as session:
        token = session.get(Token, token_id)
        visible = (
            token is not None
            and not token.deleted
            and (principal.is_admin or token.org_id == principal.org_id)
        )
        if token is None or not visible:
            raise NotFound(
                f"no token with id {token_id!r}", hint="list them with: plat tokens list"
            )
        principal.require(token.org_id, "owner")
        token.deleted = True
        session.add(token)
        org = session.get(Org, token.org_id) if token.org_id else None
        return _describe(token, org.name if org else None)


def whoami(principal: Principal) -> dict[str, Any]:
    return {
        "token_id": principal.token_id,
        "name": principal.name,
        "org": principal.org_name,
        "role": "admin" if principal.is_admin else principal.role,
    }
